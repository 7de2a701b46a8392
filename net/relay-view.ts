// What a client or a relay knows of the relay network, and how it picks the
// relays of an onion route (docs/relay-directory.md).
//
// The view is built from several sources (DHT lookups, BEP 44 items, other
// relays' /descriptors) and trusts none of them: every descriptor is checked
// under the key it names, copies are merged by key keeping the newest, and a
// descriptor too old, from the future, or without an onion key still in date
// is left out. A source can withhold relays, but not forge or alter one.
//
// Path selection follows Tor's rules: the exit is chosen by what it must
// deliver to, the first hop is a guard kept across restarts, and no two hops
// share an address group (an IPv4 /16, an IPv6 /32, or a host name) or an
// operator label. A relay that fails is put aside for a while and chosen less
// after that. Everything here is pure logic over an injected clock, random
// source and guard store; fetching lives in net/relay-sources.ts.

import { toHex } from '../protocol/bytes.ts';
import { ONION } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { decodeMessage, verifyMessage } from '../protocol/messages/index.ts';
import { epochAt, onionKeyExpiresMs, type RelayDescriptor } from '../protocol/messages/relay.ts';

/** A relay as the view holds it: its newest valid descriptor, exactly as signed. */
export interface RelayEntry {
  readonly descriptor: RelayDescriptor;
  /** The descriptor's encoded bytes, as its relay signed them (what GET /descriptors hands on). */
  readonly bytes: Uint8Array;
  /** The relay's key in hex. */
  readonly id: string;
  /** Its address group: hops of one route never share one. */
  readonly group: string;
  /** The sources that reported a valid copy of it (any ts). */
  readonly sources: ReadonlySet<string>;
}

/** Where a route must end: a mint's origin, a rendezvous at a named relay, or any relay that keeps mailboxes. */
export type Destination = { mint: string } | { rendezvous: Uint8Array } | { mailbox: true };

/** One hop of a chosen route: what a sender needs to build the onion (protocol/onion's OnionHop) and to reach the first hop. */
export interface PathHop {
  /** The relay's ed25519 key: its id in routes. */
  readonly id: Uint8Array;
  /** Its X25519 onion key for `epoch`. */
  readonly onionKey: Uint8Array;
  readonly epoch: number;
  readonly ws: string;
  readonly entry: RelayEntry;
}

/** Where the guard's key is kept across restarts (a file, extension storage, memory). */
export interface GuardStore {
  load(): Promise<string | undefined>;
  /** Saves the guard's key in hex; undefined forgets it. */
  save(id: string | undefined): Promise<void>;
}

/** A place descriptors come from: a DHT walk, one relay's /descriptors. Returns encoded descriptors, unchecked. */
export interface DescriptorSource {
  readonly name: string;
  fetch(signal?: AbortSignal): Promise<Uint8Array[]>;
}

export interface RelayViewOptions {
  backend: CryptoBackend;
  sources?: DescriptorSource[];
  guardStore?: GuardStore;
  /** Unix milliseconds. */
  now?: () => number;
  /** A number in [0, 1). */
  random?: () => number;
  /** The group of a relay's ws URL; by default an IPv4 /16, an IPv6 /32 or the host name. */
  groupOf?: (ws: string) => string;
  /** A descriptor signed longer ago than this is stale. Default three epochs: relays re-sign at every rotation. */
  maxAgeMs?: number;
  /** How far in the future a descriptor's ts may be (clock skew). Default ten minutes. */
  maxSkewMs?: number;
  /** Relays held at most; the oldest descriptors go first. Default 1024. */
  maxRelays?: number;
  /** A relay that fails is put aside for this long, doubling with each failure in a row, up to asideMaxMs. */
  asideMs?: number;
  asideMaxMs?: number;
  /** Failures in a row after which the guard is replaced. Default 3. */
  guardFailures?: number;
}

const DEFAULTS = {
  maxAgeMs: 3 * ONION.epochMs,
  maxSkewMs: 10 * 60_000,
  maxRelays: 1024,
  asideMs: 60_000,
  asideMaxMs: 60 * 60_000,
  guardFailures: 3,
};

/** Why a descriptor was not taken. */
export type RejectReason = 'invalid' | 'signature' | 'stale' | 'future' | 'no-onion-key' | 'older';

export interface RefreshReport {
  /** Descriptors taken (new relays or newer copies). */
  added: number;
  /** Copies refused, by reason. */
  rejected: Partial<Record<RejectReason, number>>;
  /** Sources that failed, with their message. */
  failed: { source: string; message: string }[];
}

interface Standing {
  /** Failures in a row. */
  failures: number;
  successes: number;
  asideUntil: number;
  /** A smoothed round trip, when answers were timed. */
  rttMs: number | undefined;
}

export class RelayView {
  readonly #backend: CryptoBackend;
  readonly #sources: DescriptorSource[];
  readonly #guardStore: GuardStore | undefined;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #groupOf: (ws: string) => string;
  readonly #opts: typeof DEFAULTS;
  readonly #relays = new Map<string, RelayEntry>();
  readonly #standing = new Map<string, Standing>();
  #guard: string | undefined;
  #guardLoaded = false;

  constructor(options: RelayViewOptions) {
    this.#backend = options.backend;
    this.#sources = [...(options.sources ?? [])];
    this.#guardStore = options.guardStore;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#groupOf = options.groupOf ?? addressGroup;
    this.#opts = { ...DEFAULTS, ...definedOnly(options) } as typeof DEFAULTS;
  }

  /** Adds a source for later refreshes (another relay's /descriptors, say). */
  addSource(source: DescriptorSource): void {
    this.#sources.push(source);
  }

  /** Asks every source at once and merges what each returns; a source that fails is reported, not thrown. */
  async refresh(signal?: AbortSignal): Promise<RefreshReport> {
    const report: RefreshReport = { added: 0, rejected: {}, failed: [] };
    await Promise.all(
      this.#sources.map(async (source) => {
        let found: Uint8Array[];
        try {
          found = await source.fetch(signal);
        } catch (error) {
          report.failed.push({ source: source.name, message: (error as Error).message });
          return;
        }
        for (const bytes of found) {
          const outcome = this.add(bytes, source.name);
          if (outcome === 'added') report.added++;
          else if (outcome !== 'same') report.rejected[outcome] = (report.rejected[outcome] ?? 0) + 1;
        }
      }),
    );
    return report;
  }

  /**
   * Takes one encoded descriptor from `source`: decoded, checked under the key
   * it names, and kept if it is in date and newer than the copy held.
   */
  add(bytes: Uint8Array, source: string): 'added' | 'same' | RejectReason {
    let descriptor: RelayDescriptor;
    try {
      const message = decodeMessage(bytes, { maxBytes: 1024 });
      if (message.t !== 'relay-descriptor') return 'invalid';
      descriptor = message;
    } catch {
      return 'invalid';
    }
    try {
      verifyMessage(this.#backend, descriptor);
    } catch {
      return 'signature';
    }
    const now = this.#now();
    if (descriptor.ts > now + this.#opts.maxSkewMs) return 'future';
    if (descriptor.ts < now - this.#opts.maxAgeMs) return 'stale';
    // A relay that lists keys, all of them expired, has stopped re-signing; one that lists none forwards nothing but is still an edge relay.
    if (!inDate(descriptor, now)) return 'no-onion-key';
    const id = toHex(descriptor.key);
    const held = this.#relays.get(id);
    const sources = new Set(held?.sources ?? []).add(source);
    if (held && held.descriptor.ts >= descriptor.ts) {
      this.#relays.set(id, { ...held, sources });
      return held.descriptor.ts === descriptor.ts ? 'same' : 'older';
    }
    this.#relays.set(id, { descriptor, bytes: bytes.slice(), id, group: this.#groupOf(descriptor.ws), sources });
    this.#trim();
    return 'added';
  }

  /** Every relay whose descriptor is in date (and whose onion keys, if it lists any, are not all expired), newest first. */
  relays(): RelayEntry[] {
    this.#expire();
    return [...this.#relays.values()].sort((a, b) => b.descriptor.ts - a.descriptor.ts);
  }

  get(id: Uint8Array | string): RelayEntry | undefined {
    this.#expire();
    return this.#relays.get(typeof id === 'string' ? id : toHex(id));
  }

  /** Up to `max` descriptors as their relays signed them, newest first: what GET /descriptors serves. */
  signedDescriptors(max: number): Uint8Array[] {
    return this.relays()
      .slice(0, max)
      .map((e) => e.bytes);
  }

  /** The relay's onion key for `epoch`, if its descriptor lists one that has not expired. */
  onionKeyFor(entry: RelayEntry, epoch: number): Uint8Array | undefined {
    if (onionKeyExpiresMs(epoch) <= this.#now()) return undefined;
    return entry.descriptor.onion.find((k) => k.epoch === epoch)?.key;
  }

  // ---- Standing: who answers --------------------------------------------------------

  /** A relay answered (a packet went through, a fetch succeeded); `rttMs` if it was timed. */
  reportSuccess(id: Uint8Array | string, rttMs?: number): void {
    const s = this.#standingOf(hexOf(id));
    s.failures = 0;
    s.successes++;
    s.asideUntil = 0;
    if (rttMs !== undefined) s.rttMs = s.rttMs === undefined ? rttMs : 0.8 * s.rttMs + 0.2 * rttMs;
  }

  /** A relay did not answer or dropped what it was given: put aside, the longer the more it fails in a row. */
  reportFailure(id: Uint8Array | string): void {
    const key = hexOf(id);
    const s = this.#standingOf(key);
    s.failures++;
    s.asideUntil = this.#now() + Math.min(this.#opts.asideMs * 2 ** (s.failures - 1), this.#opts.asideMaxMs);
    if (key === this.#guard && s.failures >= this.#opts.guardFailures) this.#guard = undefined;
  }

  /** Whether a relay is put aside now. */
  isAside(id: Uint8Array | string): boolean {
    return (this.#standing.get(hexOf(id))?.asideUntil ?? 0) > this.#now();
  }

  /**
   * Relays ranked by how they answer: not put aside first, then by the share
   * of answers (with one success and one failure assumed, so a newcomer sits
   * in the middle), then by round trip.
   */
  ranking(): RelayEntry[] {
    const now = this.#now();
    const score = (e: RelayEntry) => {
      const s = this.#standing.get(e.id);
      return s ? (s.successes + 1) / (s.successes + s.failures + 2) : 0.5;
    };
    const aside = (e: RelayEntry) => ((this.#standing.get(e.id)?.asideUntil ?? 0) > now ? 1 : 0);
    const rtt = (e: RelayEntry) => this.#standing.get(e.id)?.rttMs ?? Infinity;
    return this.relays().sort((a, b) => aside(a) - aside(b) || score(b) - score(a) || rtt(a) - rtt(b));
  }

  // ---- Path selection --------------------------------------------------------------

  /** The guard's key in hex, once loaded or chosen. */
  get guard(): string | undefined {
    return this.#guard;
  }

  /**
   * Picks a route of `hops` relays (3 by default) ending at a relay that can
   * reach `destination`, for onion keys of `epoch` (now's by default). The
   * first hop is the guard, chosen once and kept (in the guard store) until it
   * fails `guardFailures` times in a row. Throws NOT_FOUND when the view holds
   * no route that obeys every rule.
   */
  async choosePath(destination: Destination, options: { hops?: number; epoch?: number } = {}): Promise<PathHop[]> {
    const hops = options.hops ?? 3;
    const epoch = options.epoch ?? epochAt(this.#now());
    if (!Number.isInteger(hops) || hops < 2 || hops > ONION.maxHops) {
      throw new SpareCyclesError('USAGE', `hops: expected 2..${ONION.maxHops}, got ${hops}`);
    }
    const usable = this.relays().filter((e) => this.onionKeyFor(e, epoch) !== undefined);
    const exits = usable.filter((e) => reaches(e.descriptor, destination));
    if (exits.length === 0) throw noPath(`no relay in the view delivers to ${describe(destination)} with an onion key for epoch ${epoch}`);

    const guard = await this.#guardFrom(usable, exits);
    // The exit, from those that do not clash with the guard; if all of them do, the guard sits this route out.
    let exit = this.#pick(exits.filter((e) => !guard || !clash(e, guard)));
    let first = guard;
    if (!exit) {
      exit = this.#pick(exits)!;
      first = undefined;
    }
    const chosen: RelayEntry[] = [exit];
    const route: RelayEntry[] = [];
    for (let i = 0; i < hops - 1; i++) {
      const next = i === 0 && first ? first : this.#pick(usable.filter((e) => !chosen.some((c) => clash(e, c))));
      if (!next) {
        throw noPath(`only ${chosen.length} relays in the view are in distinct address groups and operators (a route of ${hops} needs ${hops})`);
      }
      chosen.push(next);
      route.push(next);
    }
    route.push(exit);
    return route.map((entry) => ({
      id: entry.descriptor.key.slice(),
      onionKey: this.onionKeyFor(entry, epoch)!.slice(),
      epoch,
      ws: entry.descriptor.ws,
      entry,
    }));
  }

  /** The guard if it is usable, else a new one (saved), chosen so that some exit remains clear of it where one can. */
  async #guardFrom(usable: RelayEntry[], exits: RelayEntry[]): Promise<RelayEntry | undefined> {
    if (!this.#guardLoaded) {
      this.#guardLoaded = true;
      const stored = await this.#guardStore?.load();
      if (stored !== undefined && /^[0-9a-f]{64}$/.test(stored) && this.#guard === undefined) this.#guard = stored;
    }
    const held = this.#guard === undefined ? undefined : usable.find((e) => e.id === this.#guard);
    // A guard missing from this epoch's view is kept for later: only failures replace it.
    if (held) return held;
    if (this.#guard !== undefined && this.#relays.has(this.#guard)) return undefined;
    const candidates = usable.filter((e) => exits.some((x) => !clash(x, e)));
    const fresh = this.#pick(candidates.length > 0 ? candidates : usable);
    if (!fresh) return undefined;
    this.#guard = fresh.id;
    await this.#guardStore?.save(fresh.id);
    return fresh;
  }

  /** A random relay, weighted against recent failures; those put aside only when nothing else is left. */
  #pick(candidates: RelayEntry[]): RelayEntry | undefined {
    if (candidates.length === 0) return undefined;
    const now = this.#now();
    const ready = candidates.filter((e) => (this.#standing.get(e.id)?.asideUntil ?? 0) <= now);
    const pool = ready.length > 0 ? ready : candidates;
    const weights = pool.map((e) => 1 / (1 + (this.#standing.get(e.id)?.failures ?? 0)));
    let r = this.#random() * weights.reduce((a, b) => a + b, 0);
    for (let i = 0; i < pool.length; i++) {
      r -= weights[i]!;
      if (r < 0) return pool[i];
    }
    return pool[pool.length - 1];
  }

  #standingOf(id: string): Standing {
    let s = this.#standing.get(id);
    if (!s) {
      s = { failures: 0, successes: 0, asideUntil: 0, rttMs: undefined };
      this.#standing.set(id, s);
    }
    return s;
  }

  #expire(): void {
    const now = this.#now();
    for (const [id, e] of this.#relays) {
      const stale = e.descriptor.ts < now - this.#opts.maxAgeMs;
      if (stale || !inDate(e.descriptor, now)) this.#relays.delete(id);
    }
  }

  #trim(): void {
    if (this.#relays.size <= this.#opts.maxRelays) return;
    const oldest = [...this.#relays.values()].sort((a, b) => a.descriptor.ts - b.descriptor.ts);
    for (const e of oldest.slice(0, this.#relays.size - this.#opts.maxRelays)) this.#relays.delete(e.id);
  }
}

function inDate(d: RelayDescriptor, now: number): boolean {
  return d.onion.length === 0 || d.onion.some((k) => onionKeyExpiresMs(k.epoch) > now);
}

/** Whether two relays may not be hops of one route: the same relay, address group or operator. */
export function clash(a: RelayEntry, b: RelayEntry): boolean {
  if (a.id === b.id || a.group === b.group) return true;
  return a.descriptor.family !== undefined && a.descriptor.family === b.descriptor.family;
}

/** Whether a relay, as the last hop, delivers to `destination`. */
export function reaches(d: RelayDescriptor, destination: Destination): boolean {
  if ('mint' in destination) {
    const origin = mintOrigin(destination.mint);
    return origin !== undefined && d.exit.mints.some((m) => mintOrigin(m) === origin);
  }
  if ('rendezvous' in destination) return d.exit.mailboxes && toHex(d.key) === toHex(destination.rendezvous);
  return d.exit.mailboxes;
}

/** A mint URL's origin (scheme, host, port) in lower case, or undefined when it is not an http(s) URL. */
export function mintOrigin(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The address group of a relay's ws URL: `ipv4:a.b` for an IPv4 address (its
 * /16), `ipv6:` and the first 32 bits for an IPv6 one, `name:` and the
 * lower-case host name otherwise. A URL that does not parse is its own group.
 */
export function addressGroup(ws: string): string {
  let host: string;
  try {
    host = new URL(ws).hostname.toLowerCase();
  } catch {
    return `url:${ws}`;
  }
  const v4 = /^(\d{1,3})\.(\d{1,3})\.\d{1,3}\.\d{1,3}$/.exec(host);
  if (v4) return `ipv4:${Number(v4[1])}.${Number(v4[2])}`;
  if (host.startsWith('[') && host.endsWith(']')) return `ipv6:${ipv6Prefix32(host.slice(1, -1))}`;
  return `name:${host.replace(/\.$/, '')}`;
}

function ipv6Prefix32(address: string): string {
  const [head = ''] = address.split('::');
  const groups = head.split(':').filter(Boolean);
  const pad = (g: string | undefined) => (g ?? '0').padStart(4, '0');
  return `${pad(groups[0])}:${pad(groups[1])}`;
}

/** A guard store that lives as long as the process (tests; a browser session that keeps nothing). */
export function memoryGuardStore(initial?: string): GuardStore & { value: string | undefined } {
  const store = {
    value: initial,
    load: async () => store.value,
    save: async (id: string | undefined) => void (store.value = id),
  };
  return store;
}

function describe(destination: Destination): string {
  if ('mint' in destination) return `the mint ${destination.mint}`;
  if ('rendezvous' in destination) return `a rendezvous at relay ${toHex(destination.rendezvous).slice(0, 16)}…`;
  return 'a mailbox';
}

function noPath(message: string): SpareCyclesError {
  return new SpareCyclesError('NOT_FOUND', `no onion route: ${message}`);
}

function hexOf(id: Uint8Array | string): string {
  return typeof id === 'string' ? id : toHex(id);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
