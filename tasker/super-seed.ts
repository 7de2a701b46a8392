// Super-seeding (after BEP 16) for the task torrent, so that a tasker uploads
// each piece about once however many workers fetch the task at the same time.
//
// WebTorrent leechers take pieces in order from whoever has them, and a seeder
// that advertises everything is the fastest peer on every wire: eight workers
// made the tasker upload the torrent about eight times. Refusing requests does
// not help (WebTorrent asks again for a rejected piece at once), so we act
// earlier, on what the seeder advertises. Each wire is told "have none", then
// `have` for a small window of pieces that nobody has or is being given yet.
// When the peer announces one of them, the window is topped up. Once every
// piece is out, a peer gets no more from us while the swarm feeds it; a peer
// that has had nothing from the swarm for `stallMs` (it is alone, or cut off
// from the others) is given the pieces it lacks that the fewest peers hold,
// and keeps being given them until the swarm feeds it again.
//
// Only what we advertise changes: requests are served as before, BEP 10
// extension messages (sc_task, ut_metadata) are untouched, and a peer that
// asks for a piece we never advertised still gets it.
//
// A torrent no larger than one window is seeded plainly. Super-seeding it
// would save at most one window of upload per extra worker, and it would make
// every worker after the first wait for a peer that is still fetching: with a
// 20 KB task, the second of two workers began computing about 180 ms after
// the first.

import type WebTorrent from 'webtorrent';
import type { Torrent, Wire } from 'webtorrent';

export interface SuperSeedOptions {
  /** How many bytes of pieces one peer may have been given and not yet finished. */
  windowBytes?: number;
  /** How long a peer may go without a piece from the swarm before we serve it anyway. */
  stallMs?: number;
}

// Small windows hand pieces out roughly in order across the swarm, which suits
// WebTorrent's in-order picker: 256 KiB did as well as 1 MiB on the ratio and
// fetched 8 MiB to 8 leechers about twice as fast on loopback.
const DEFAULT_WINDOW_BYTES = 256 * 1024;
const MIN_WINDOW_PIECES = 4;
const DEFAULT_STALL_MS = 1000;

interface PeerState {
  wire: Wire;
  /** The pieces the peer has announced (bitfield, have, have-all). */
  has: Uint8Array;
  hasCount: number;
  /** Pieces we advertised to this peer, ever: it believes we have them. */
  advertised: Uint8Array;
  /** Advertised pieces the peer does not have yet. */
  given: Set<number>;
  /** When the peer last announced a piece we had not given it, or joined. */
  lastFromSwarm: number;
}

export class SuperSeed {
  private readonly windowBytes: number;
  private readonly stallMs: number;
  private torrent: Torrent | undefined;
  private pieces = 0;
  /** Per piece: peers that have it, and peers we have given it to that do not have it yet. */
  private held = new Int32Array(0);
  private pending = new Int32Array(0);
  private readonly peers = new Map<Wire, PeerState>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(
    private readonly client: WebTorrent,
    options: SuperSeedOptions = {},
  ) {
    this.windowBytes = options.windowBytes ?? DEFAULT_WINDOW_BYTES;
    this.stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  }

  /**
   * Call from the seeding torrent's 'wire' event. WebTorrent announces our
   * pieces a microtask later (`_onWireWithMetadata`: `haveAll()` on a wire
   * with the fast extension, else `bitfield()`); that one call is replaced on
   * this wire by the super-seeding start.
   */
  attach(wire: Wire): void {
    const original = { haveAll: wire.haveAll, bitfield: wire.bitfield };
    const restore = () => {
      wire.haveAll = original.haveAll;
      wire.bitfield = original.bitfield;
    };
    wire.haveAll = () => {
      restore();
      if (!this.begin(wire)) wire.haveAll();
    };
    wire.bitfield = (bitfield) => {
      restore();
      if (!this.begin(wire)) wire.bitfield(bitfield);
    };
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.peers.clear();
  }

  /** Starts super-seeding on a wire; false to let WebTorrent advertise as usual. */
  private begin(wire: Wire): boolean {
    const torrent = this.torrentOf(wire);
    if (!torrent || this.stopped) return false;
    const peer: PeerState = {
      wire,
      has: new Uint8Array(this.pieces),
      hasCount: 0,
      advertised: new Uint8Array(this.pieces),
      given: new Set(),
      lastFromSwarm: Date.now(),
    };
    this.peers.set(wire, peer);
    if (wire.hasFast) wire.haveNone();
    else wire.bitfield(new Uint8Array(Math.ceil(this.pieces / 8)));
    wire.on('have', (index: number) => this.onHave(peer, index));
    wire.on('bitfield', () => this.sync(peer));
    wire.on('have-all', () => this.sync(peer));
    wire.once('close', () => this.drop(peer));
    this.sync(peer);
    return true;
  }

  private torrentOf(wire: Wire): Torrent | undefined {
    if (!this.torrent) {
      const torrent = this.client.torrents.find((t) => t.wires.includes(wire));
      if (!torrent?.ready || !torrent.done || torrent.length <= this.windowBytes) return undefined;
      this.torrent = torrent;
      this.pieces = torrent.pieces.length;
      this.held = new Int32Array(this.pieces);
      this.pending = new Int32Array(this.pieces);
      this.timer = setInterval(() => this.tick(), Math.max(50, this.stallMs / 2));
      this.timer.unref?.();
      torrent.once('close', () => this.stop());
    }
    return this.torrent.wires.includes(wire) ? this.torrent : undefined;
  }

  private onHave(peer: PeerState, index: number): void {
    if (!this.peers.has(peer.wire)) return;
    this.mark(peer, index);
    this.topUp(peer);
  }

  /** Reads the peer's whole bitfield again (after 'bitfield' or 'have-all'). */
  private sync(peer: PeerState): void {
    if (!this.peers.has(peer.wire)) return;
    for (let i = 0; i < this.pieces; i++) if (peer.wire.peerPieces.get(i)) this.mark(peer, i);
    this.topUp(peer);
  }

  private mark(peer: PeerState, index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.pieces || peer.has[index]) return;
    peer.has[index] = 1;
    peer.hasCount++;
    this.held[index]!++;
    if (peer.given.delete(index)) this.pending[index]!--;
    else if (!peer.advertised[index]) peer.lastFromSwarm = Date.now();
  }

  private drop(peer: PeerState): void {
    if (this.peers.get(peer.wire) !== peer) return;
    this.peers.delete(peer.wire);
    for (let i = 0; i < this.pieces; i++) if (peer.has[i]) this.held[i]!--;
    // Pieces it was given and never finished are nobody's again: the next top-up hands them out.
    for (const i of peer.given) this.pending[i]!--;
  }

  private tick(): void {
    for (const peer of this.peers.values()) this.topUp(peer);
  }

  /** Advertises pieces to the peer until its window is full, if any are due. */
  private topUp(peer: PeerState): void {
    if (this.stopped || peer.hasCount === this.pieces) return;
    const torrent = this.torrent!;
    const window = Math.max(MIN_WINDOW_PIECES, Math.ceil(this.windowBytes / torrent.pieceLength));
    const want = window - peer.given.size;
    if (want <= 0) return;
    const stalled = Date.now() - peer.lastFromSwarm >= this.stallMs;
    for (const index of this.choose(peer, want, stalled)) {
      peer.advertised[index] = 1;
      peer.given.add(index);
      this.pending[index]!++;
      peer.wire.have(index);
    }
  }

  /**
   * Up to `count` pieces the peer lacks and has not been offered: first those
   * nobody has or is being given; if the peer is stalled, then the ones the
   * fewest peers hold.
   */
  private choose(peer: PeerState, count: number, stalled: boolean): number[] {
    const fresh: number[] = [];
    const spread: number[] = [];
    for (let i = 0; i < this.pieces; i++) {
      if (peer.has[i] || peer.advertised[i]) continue;
      if (this.held[i] === 0 && this.pending[i] === 0) {
        fresh.push(i);
        if (fresh.length === count) return fresh;
      } else if (stalled) spread.push(i);
    }
    if (!stalled) return fresh;
    const score = (i: number) => this.held[i]! + this.pending[i]!;
    spread.sort((a, b) => score(a) - score(b) || a - b);
    return fresh.concat(spread.slice(0, count - fresh.length));
  }
}
