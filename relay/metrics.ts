// The relay's counters, and their Prometheus text exposition (GET /metrics).
// Label values come from small fixed sets (message types, error codes,
// reasons), never from what a client sent, so the series stay few.

export interface Gauges {
  connections: number;
  cachedOffers: number;
  dhtNodes: number;
  lookupsInFlight: number;
  uptimeS: number;
  /** The onion service's gauges, when the relay forwards onion packets. */
  onion?: OnionGauges;
}

export interface OnionGauges {
  links: number;
  clients: number;
  mailboxes: number;
  /** Packets held in mailboxes for owners not connected. */
  held: number;
  /** Packets waiting out their hop's delay. */
  delayed: number;
  replayTags: number;
}

type Labelled = Map<string, number>;

function bump(map: Labelled, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

export class RelayMetrics {
  connectionsTotal = 0;
  readonly connectionsRefused: Labelled = new Map();
  readonly connectionsClosed: Labelled = new Map();
  readonly requests: Labelled = new Map();
  readonly errors: Labelled = new Map();
  rateLimited = 0;
  readonly refresh = { count: 0, sumS: 0, lastS: 0, failures: 0 };
  readonly rejectedOffers: Labelled = new Map();
  /** Onion packets: in by where from (link, client), out to links, delivered by kind (mailbox, exit), refused by error code. */
  readonly onionIn: Labelled = new Map();
  onionOut = 0;
  readonly onionDelivered: Labelled = new Map();
  readonly onionRefused: Labelled = new Map();
  /** Onion links dialed or accepted, and those that failed to come up, by reason. */
  readonly onionLinkEvents: Labelled = new Map();

  request(type: string): void {
    bump(this.requests, type);
  }

  error(code: string): void {
    bump(this.errors, code);
  }

  refused(reason: string): void {
    bump(this.connectionsRefused, reason);
  }

  closed(reason: string): void {
    bump(this.connectionsClosed, reason);
  }

  rejected(reason: string): void {
    bump(this.rejectedOffers, reason);
  }

  onionPacketIn(from: 'link' | 'client'): void {
    bump(this.onionIn, from);
  }

  onionDeliveredTo(to: 'mailbox' | 'exit'): void {
    bump(this.onionDelivered, to);
  }

  /** `code` is an ERROR_CODES entry: a fixed set. */
  onionRefusedWith(code: string): void {
    bump(this.onionRefused, code);
  }

  onionLink(event: string): void {
    bump(this.onionLinkEvents, event);
  }

  refreshed(ok: boolean, ms: number): void {
    this.refresh.count++;
    this.refresh.sumS += ms / 1000;
    this.refresh.lastS = ms / 1000;
    if (!ok) this.refresh.failures++;
  }

  render(g: Gauges): string {
    const out: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge' | 'summary', help: string, rows: [string, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [suffix, value] of rows) out.push(`${name}${suffix} ${Number.isFinite(value) ? value : 0}`);
    };
    const labelled = (label: string, map: Labelled): [string, number][] =>
      [...map].sort(([a], [b]) => (a < b ? -1 : 1)).map(([value, n]) => [`{${label}="${escapeLabel(value)}"}`, n]);
    const p = 'sparecycles_relay';
    metric(`${p}_connections`, 'gauge', 'Open WebSocket connections.', [['', g.connections]]);
    metric(`${p}_connections_total`, 'counter', 'WebSocket connections accepted.', [['', this.connectionsTotal]]);
    metric(`${p}_connections_refused_total`, 'counter', 'Upgrades refused, by reason.', labelled('reason', this.connectionsRefused));
    metric(`${p}_connections_closed_total`, 'counter', 'Connections the relay closed, by reason.', labelled('reason', this.connectionsClosed));
    metric(`${p}_requests_total`, 'counter', 'Requests past the rate limiter, by message type (invalid: undecodable).', labelled('type', this.requests));
    metric(`${p}_errors_total`, 'counter', 'relay-error answers sent, by code.', labelled('code', this.errors));
    metric(`${p}_rate_limited_total`, 'counter', 'Requests refused by a rate limit.', [['', this.rateLimited]]);
    metric(`${p}_cached_offers`, 'gauge', 'Verified offers held for relay-find.', [['', g.cachedOffers]]);
    metric(`${p}_offer_refresh_seconds`, 'summary', 'Time taken by offer refreshes (topic lookup, endpoints, BEP 44 gets).', [
      ['_sum', this.refresh.sumS],
      ['_count', this.refresh.count],
    ]);
    metric(`${p}_offer_refresh_last_seconds`, 'gauge', 'Time taken by the last offer refresh.', [['', this.refresh.lastS]]);
    metric(`${p}_offer_refresh_failures_total`, 'counter', 'Offer refreshes that failed.', [['', this.refresh.failures]]);
    metric(`${p}_offers_rejected_total`, 'counter', 'Offers found but refused while refreshing, by reason.', labelled('reason', this.rejectedOffers));
    metric(`${p}_item_lookups_in_flight`, 'gauge', 'BEP 44 gets running for relay-get.', [['', g.lookupsInFlight]]);
    metric(`${p}_dht_nodes`, 'gauge', 'Nodes in the relay DHT routing table.', [['', g.dhtNodes]]);
    metric(`${p}_uptime_seconds`, 'gauge', 'Seconds since the relay started.', [['', g.uptimeS]]);
    if (g.onion) {
      const o = g.onion;
      metric(`${p}_onion_packets_in_total`, 'counter', 'Onion packets received, by where from (link, client).', labelled('from', this.onionIn));
      metric(`${p}_onion_packets_out_total`, 'counter', 'Onion packets sent on to the next relay.', [['', this.onionOut]]);
      metric(`${p}_onion_packets_delivered_total`, 'counter', 'Onion messages delivered here, by kind (mailbox, exit).', labelled('to', this.onionDelivered));
      metric(`${p}_onion_refused_total`, 'counter', 'Onion packets and frames dropped, by error code.', labelled('code', this.onionRefused));
      metric(`${p}_onion_link_events_total`, 'counter', 'Onion links up and down, by event.', labelled('event', this.onionLinkEvents));
      metric(`${p}_onion_links`, 'gauge', 'Authenticated links to other relays.', [['', o.links]]);
      metric(`${p}_onion_clients`, 'gauge', 'Onion sockets of clients (not relays).', [['', o.clients]]);
      metric(`${p}_onion_mailboxes`, 'gauge', 'Mailboxes open or holding mail.', [['', o.mailboxes]]);
      metric(`${p}_onion_held`, 'gauge', 'Messages held for mailbox owners not connected.', [['', o.held]]);
      metric(`${p}_onion_delayed`, 'gauge', 'Packets waiting out their hop delay.', [['', o.delayed]]);
      metric(`${p}_onion_replay_tags`, 'gauge', 'Replay tags held over the epochs still accepted.', [['', o.replayTags]]);
    }
    return `${out.join('\n')}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
