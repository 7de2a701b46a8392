// The relay's counters, and their Prometheus text exposition (GET /metrics).
// Label values come from small fixed sets (message types, error codes,
// reasons), never from what a client sent, so the series stay few.

export interface Gauges {
  connections: number;
  cachedOffers: number;
  dhtNodes: number;
  lookupsInFlight: number;
  uptimeS: number;
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
    return `${out.join('\n')}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
