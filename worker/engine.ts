// The volunteer's engine for one task: fetch the task torrent, check the
// signed manifest and the module, greet the tasker on every channel that
// opens, claim units, run them under the CPU budget, and return signed results
// (inline when small, a result torrent per batch when not, or in parts on the
// task wire for a stealth worker, which seeds nothing). Platform-neutral:
// the extension and `cycles worker` both run it through worker/ports.ts, and
// it speaks only through the channel seam (protocol/channel.ts), whichever
// transport carries the channels.

import { EventEmitter } from 'eventemitter3';
import { equalBytes, fromHex, toHex } from '../protocol/bytes.ts';
import { LIMITS, RESULT_CIPHER } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import type { ChannelListener, FrameListener, MessageChannel } from '../protocol/channel.ts';
import { blamesPeer, ProtocolError, SignatureError, SpareCyclesError, TimeoutError } from '../protocol/errors.ts';
import { openManifest, unitInputRef } from '../protocol/manifest.ts';
import type { Manifest } from '../protocol/manifest.ts';
import { sealMessage, sealSigned, verifySealed } from '../protocol/messages/index.ts';
import { OUTPUT_PARTS, partCount } from '../protocol/messages/output-part.ts';
import type { Assign, Receipt, Sealed, UnsignedMessage } from '../protocol/messages/index.ts';
import { sealResultFile } from '../protocol/result-cipher.ts';
import { SecureInitiator } from '../protocol/secure-channel.ts';
import { MANIFEST_FILE, resultFileName, taskFilePaths } from '../protocol/task-files.ts';
import { prepareUnitModule } from '../protocol/unit-module.ts';
import type { PreparedModule } from '../protocol/unit-module.ts';
import type { Earnings, TaskHandle, TorrentPort, UnitRunner } from './ports.ts';
import { RoutedTask } from './routed-task.ts';

/**
 * The wallet's refusals of the pay itself (worker/wallet.ts): a proof that
 * does not verify, signatures that do not fit the outputs, outputs it does
 * not hold. A receipt that brings one brings it every time, so its outputs are
 * forfeited and it is acknowledged; unacknowledged, the tasker would send it
 * for as long as it keeps receipts. Anything else (the mint out of reach, the
 * wallet busy, a disk that failed) may pass: the receipt goes unacknowledged
 * and is tried again when it comes again.
 */
const UNKEEPABLE_PAY: ReadonlySet<string> = new Set(['PROOF', 'MISMATCH', 'UNKNOWN_OUTPUT']);

export interface WorkerEngineOptions {
  backend: CryptoBackend;
  identity: Identity;
  /**
   * Runs units: the unit pool, or anything with its shape. The seam where a
   * test plays a worker that lies, idles, copies or colludes, with no hook in
   * the engine itself.
   */
  pool: UnitRunner;
  torrents: TorrentPort;
  /** The tasker key an offer named: the manifest must be signed by it. */
  expectTasker?: Uint8Array;
  /** How long to wait for the task torrent. */
  fetchTimeoutMs?: number;
  /** How often an idle worker asks again for work. */
  claimIntervalMs?: number;
  /**
   * How long claims on the tasker channel may go unanswered, with nothing
   * at all heard on it, before the engine gives that channel up for another
   * open channel to the tasker (a relay that swallows what it carries, a wire
   * gone dead). Without another, it keeps the one it has.
   */
  claimTimeoutMs?: number;
  /**
   * How long each handshake initiation waits for the tasker's answer before
   * another goes on the same wire; a few go unanswered and that wire's
   * handshake is given up (protocol/secure-channel.ts).
   */
  handshakeTimeoutMs?: number;
  /** Where pay goes; without it this worker asks for none. */
  earnings?: Earnings;
  /**
   * Stealth mode: the tasker is reached only over channels another transport
   * opens into `frames` (onion routes), never on the task swarm's wires,
   * where greeting it would tie this key to this address; and no result is
   * seeded from here. An output too large to ride inline goes in parts on
   * the channel (output-part), to a tasker that says it reads them (the
   * `output-parts` capability); to another it fails its unit, which the
   * tasker reissues.
   */
  stealth?: boolean;
  /**
   * With stealth: the task torrent, too, comes from the tasker over the
   * channels opened into `frames` (worker/routed-task.ts), and the engine
   * joins no swarm at all. Without it a stealth worker downloads the task
   * from the swarm, from its own address.
   */
  routeTask?: boolean;
}

/** The capability a tasker names in its handshake when it reads outputs in parts. */
export const OUTPUT_PARTS_CAP = 'output-parts';

/** Hears nothing: the swarm's wires of a stealth worker carry the torrent only. */
const SILENT: FrameListener = { open: () => {}, frame: () => {}, closed: () => {} };

export interface WorkerStats {
  assigned: number;
  computed: number;
  failed: number;
  accepted: number;
  rejected: number;
  pending: number;
  /** Credits received for accepted units. */
  credits: number;
}

export interface WorkerEvents {
  ready: [Manifest];
  assigned: [number[]];
  computed: [{ unit: number; busyMs: number }];
  failed: [{ unit: number; error: SpareCyclesError }];
  receipt: [Receipt];
  paid: [{ unit: number; amount: number }];
  warning: [Error];
}

/** What the engine knows of one channel. */
interface Peer {
  /** The key the channel's handshake authenticated (hex): only the manifest's tasker can complete one. */
  taskerKey?: string;
  /** When the first claim nothing has answered since went out on this channel. */
  claimedAt?: number;
  /** Payloads and messages refused so far: a peer that keeps sending them is dropped. */
  invalid: number;
}

const MAX_INVALID = 8;

interface Computed {
  unit: number;
  lease: Uint8Array;
  output: Uint8Array;
  runMs: number;
  /** Blinded outputs asking the task's mint for this unit's pay. */
  blinded?: Uint8Array[];
}

/**
 * How many lease ids the engine remembers, as results awaiting a final
 * receipt and as receipts already applied. A tasker that never answers, or
 * answers twice, costs at most this much memory; beyond it, a duplicate is
 * still harmless to the wallet (pay for a label already received adds nothing).
 */
const LEASE_MEMORY = 4096;

interface Batch {
  remaining: number;
  /** Outputs too large to ride inline, sent together as one result torrent. */
  large: Computed[];
}

export class WorkerEngine extends EventEmitter<WorkerEvents> {
  readonly stats: WorkerStats = { assigned: 0, computed: 0, failed: 0, accepted: 0, rejected: 0, pending: 0, credits: 0 };
  manifest: Manifest | undefined;
  private readonly options: WorkerEngineOptions;
  private readonly handle: TaskHandle;
  private readonly channels = new Map<MessageChannel, Peer>();
  private tasker: MessageChannel | undefined;
  /** Greets every wire of the task with the handshake to the manifest's tasker; only the tasker's channels open. */
  private readonly secure: SecureInitiator;
  /** Where channels to the tasker go: the secure layer, behind the routed task fetch when there is one. */
  private readonly channelFrames: FrameListener;
  private module: PreparedModule | undefined;
  private readonly inputs = new Map<string, Uint8Array>();
  private outstanding = 0;
  private claimInFlight = false;
  private claimTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  /** Set when taking new units is paused (sharing switched off); running units finish. */
  private paused = false;
  /** Leases whose result went out and has no final receipt yet (stats.pending counts them). */
  private readonly awaiting = new Set<string>();
  /** Leases whose final receipt was counted in the stats (once, however often it arrives). */
  private readonly countedLeases = new Set<string>();
  /** Leases whose pay was kept (or forfeited) and acknowledged: the tasker may send the receipt again if the ack was lost. */
  private readonly settledLeases = new Set<string>();
  /** Leases whose pay is being kept (or forfeited) now. */
  private readonly applying = new Set<string>();
  /** Pay being kept (or forfeited) for final receipts. */
  private readonly paying = new Set<Promise<void>>();
  /** Leases to acknowledge in the next ack. */
  private readonly toAck = new Set<string>();
  /** settled() callers, told whenever something settles. */
  private readonly settleWaiters = new Set<() => void>();
  readonly ready: Promise<Manifest>;
  /** Hears every channel to this task's peers, whatever transport opened it. */
  readonly listener: ChannelListener = {
    open: (channel) => this.onOpen(channel),
    message: (channel, sealed) => this.onMessage(channel, sealed),
    invalid: (channel, error) => this.refuse(channel, error),
    closed: (channel) => this.onClosed(channel),
  };

  constructor(options: WorkerEngineOptions, magnet: string) {
    super();
    this.options = options;
    this.secure = new SecureInitiator(
      {
        backend: options.backend,
        identity: options.identity,
        infoHash: () => fromHex(this.handle.infoHash),
        caps: ['wasm', 'bep10', 'result-torrent'],
        agent: 'sparecycles-worker/0.1',
        ...(options.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
      },
      this.listener,
    );
    if (options.stealth && options.routeTask) {
      const routed = new RoutedTask(magnet, { warn: (error) => this.warn(error) });
      this.handle = routed;
      this.channelFrames = routed.frames(this.secure.frames);
    } else {
      this.handle = options.torrents.openTask(magnet, options.stealth ? SILENT : this.secure.frames);
      this.channelFrames = this.secure.frames;
    }
    this.ready = this.load();
    this.ready.catch(() => {});
  }

  get infoHash(): string {
    return this.handle.infoHash;
  }

  /** Where another transport's frame channels to the tasker go (a stealth stream); the task swarm's wires go here unless in stealth mode. */
  get frames(): FrameListener {
    return this.channelFrames;
  }

  /** Stops taking units; those running finish and are returned. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.maybeClaim();
  }

  stop(): void {
    this.flushAcks();
    this.stopped = true;
    clearTimeout(this.claimTimer);
    this.secure.stop();
    this.handle.close();
    this.notifySettled();
  }

  /** Results sent without a final receipt yet, plus pay still being kept: what closing now would lose. */
  get unsettled(): number {
    return this.awaiting.size + this.paying.size;
  }

  /**
   * Resolves true once every result sent has its final receipt and its pay
   * is kept, false after `timeoutMs` or if the engine stops first. Call
   * before stop(): the receipt of an accepted result is the only copy of its
   * pay, and a closed engine never hears it.
   */
  settled(timeoutMs: number): Promise<boolean> {
    if (this.unsettled === 0) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.settleWaiters.delete(check);
        resolve(ok);
      };
      const check = () => {
        if (this.unsettled === 0) finish(true);
        else if (this.stopped) finish(false);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.settleWaiters.add(check);
    });
  }

  private notifySettled(): void {
    for (const check of [...this.settleWaiters]) check();
  }

  private async load(): Promise<Manifest> {
    const { backend } = this.options;
    await this.handle.complete(this.options.fetchTimeoutMs ?? 120_000);
    const raw = await this.handle.read(MANIFEST_FILE);
    if (!raw) throw new SpareCyclesError('SCHEMA', `the task torrent has no ${MANIFEST_FILE}`, { field: MANIFEST_FILE });
    const manifest = openManifest(backend, raw);
    if (this.options.expectTasker && !equalBytes(manifest.tasker, this.options.expectTasker)) {
      throw new SignatureError('the manifest is signed by another key than the offer named', { field: 'tasker' });
    }
    for (const path of taskFilePaths(manifest)) {
      const bytes = await this.handle.read(path);
      if (!bytes) throw new SpareCyclesError('SCHEMA', `the task torrent has no ${path}`, { field: path });
      this.inputs.set(path, bytes);
    }
    this.module = await prepareUnitModule(backend, manifest, this.inputs.get(manifest.module.path)!);
    this.manifest = manifest;
    // Only now is the tasker's Noise key known, and verified: the wires that opened meanwhile are greeted too.
    this.secure.start({ key: manifest.tasker, noise: manifest.noise });
    this.emit('ready', manifest);
    this.maybeClaim();
    return manifest;
  }

  // ---- wire ---------------------------------------------------------------------------

  /** A channel whose handshake the tasker answered: `remote` is the manifest's tasker, authenticated. */
  private onOpen(channel: MessageChannel): void {
    this.channels.set(channel, { invalid: 0, ...(channel.remote ? { taskerKey: toHex(channel.remote) } : {}) });
    this.maybeClaim();
  }

  private onClosed(channel: MessageChannel): void {
    this.channels.delete(channel);
    if (this.tasker === channel) this.tasker = undefined;
    this.maybeClaim();
  }

  /**
   * The open channel to the tasker. Two peers can hold more than one wire
   * (TCP and WebRTC) and WebTorrent may close either, so it is looked up
   * again whenever the one in use is gone.
   */
  private taskerChannel(): MessageChannel | undefined {
    if (this.tasker?.open) return this.tasker;
    const key = this.manifest && toHex(this.manifest.tasker);
    this.tasker = undefined;
    for (const [channel, peer] of this.channels) {
      if (channel.open && peer.taskerKey !== undefined && peer.taskerKey === key) this.tasker = channel;
    }
    return this.tasker;
  }

  private onMessage(channel: MessageChannel, sealed: Sealed): void {
    const message = sealed.message;
    // Anything from the tasker answers the claims made on its channel.
    const peer = this.channels.get(channel);
    if (peer) delete peer.claimedAt;
    try {
      if (message.t === 'assign') this.onAssign(channel, sealed as Sealed<Assign>);
      else if (message.t === 'receipt') this.onReceipt(channel, sealed as Sealed<Receipt>);
      else throw new ProtocolError(`expected assign or receipt from the tasker, got ${message.t}`, { field: 't' });
    } catch (error) {
      this.refuse(channel, error as Error);
    }
  }

  private fromTasker(channel: MessageChannel, message: { tasker: Uint8Array }): void {
    const key = this.channels.get(channel)?.taskerKey;
    const fromKey = key !== undefined && this.manifest && key === toHex(this.manifest.tasker);
    if (!fromKey || !equalBytes(message.tasker, this.manifest!.tasker)) {
      throw new SignatureError('message claims to be from the tasker but is not', { field: 'tasker' });
    }
  }

  private onAssign(channel: MessageChannel, sealed: Sealed<Assign>): void {
    verifySealed(this.options.backend, sealed);
    const assign = sealed.message;
    this.fromTasker(channel, assign);
    if (!equalBytes(assign.worker, this.options.identity.publicKey) || toHex(assign.task) !== this.infoHash) {
      throw new ProtocolError('expected an assign for this worker and task, got one for another', { field: 'worker' });
    }
    this.claimInFlight = false;
    const batch: Batch = { remaining: assign.units.length, large: [] };
    this.stats.assigned += assign.units.length;
    this.outstanding += assign.units.length;
    this.emit('assigned', assign.units.map((u) => u.unit));
    for (const { unit, lease } of assign.units) void this.compute(batch, unit, lease);
    this.maybeClaim();
  }

  private onReceipt(channel: MessageChannel, sealed: Sealed<Receipt>): void {
    verifySealed(this.options.backend, sealed);
    // No channel opens before the manifest is here (the handshake needs its
    // keys), so a receipt sent again to a restarted worker finds the pay terms.
    const receipt = sealed.message;
    this.fromTasker(channel, receipt);
    if (toHex(receipt.task) !== this.infoHash) throw new ProtocolError('expected a receipt for this task, got one for another', { field: 'task' });
    if (receipt.status === 'pending') {
      this.emit('receipt', receipt);
      return;
    }
    const lease = toHex(receipt.lease);
    // Sent again because the ack was lost: the pay is kept already, so only the ack goes again.
    if (this.settledLeases.has(lease)) return this.acknowledge(lease);
    // Sent again while the pay is being kept: the ack follows when it is.
    if (this.applying.has(lease)) return;
    const first = !this.countedLeases.has(lease);
    if (first) {
      remember(this.countedLeases, lease);
      this.awaiting.delete(lease);
      this.stats.pending = this.awaiting.size;
      this.stats[receipt.status]++;
    }
    this.applying.add(lease);
    const paying = this.settlePay(receipt).then((kept) => {
      this.applying.delete(lease);
      // Not kept for now (the mint's keyset out of reach, the wallet busy): no ack, so the tasker sends it again and it is tried again.
      if (!kept) return;
      remember(this.settledLeases, lease);
      // Only a receipt that carries pay is held by the tasker until acknowledged: the rest need no answer.
      if (receipt.paid) this.acknowledge(lease);
    });
    this.paying.add(paying);
    void paying.finally(() => {
      this.paying.delete(paying);
      this.notifySettled();
    });
    if (first) this.emit('receipt', receipt);
  }

  /** Acknowledges a lease's receipt to the tasker; leases settled together go in one ack. */
  private acknowledge(lease: string): void {
    if (this.toAck.size === 0) queueMicrotask(() => this.flushAcks());
    this.toAck.add(lease);
  }

  private flushAcks(): void {
    const leases = [...this.toAck].map(fromHex);
    this.toAck.clear();
    const channel = this.taskerChannel();
    // With no channel to the tasker the ack is dropped: the tasker sends the receipt again when this worker greets, and it is acknowledged then.
    if (this.stopped || !channel || leases.length === 0) return;
    for (let i = 0; i < leases.length; i += LIMITS.unitsPerMessage) {
      channel.send(
        this.sign({
          t: 'ack',
          v: 1,
          task: fromHex(this.infoHash),
          leases: leases.slice(i, i + LIMITS.unitsPerMessage),
          worker: this.options.identity.publicKey,
        }),
      );
    }
  }

  /** The pay a task offers per unit, if this worker takes pay and the task pays. */
  private payTerms(): { mint: string; price: number; earnings: Earnings } | undefined {
    const { earnings } = this.options;
    const m = this.manifest;
    return earnings && m?.mint && m.price > 0 ? { mint: m.mint, price: m.price, earnings } : undefined;
  }

  private payLabel(unit: number, lease: Uint8Array): string {
    return `${this.infoHash}:${unit}:${toHex(lease)}`;
  }

  /**
   * Keeps a final receipt's pay, or forfeits its outputs; false if that
   * failed and may be tried again. Pay the wallet refuses as such (see
   * UNKEEPABLE_PAY) is forfeited too: it would be refused every time.
   */
  private async settlePay(receipt: Receipt): Promise<boolean> {
    const terms = this.payTerms();
    if (!terms) return true;
    const label = this.payLabel(receipt.unit, receipt.lease);
    try {
      if (receipt.status === 'accepted' && receipt.paid) {
        const amount = await terms.earnings.receive(terms.mint, label, receipt.paid);
        this.stats.credits += amount;
        // Pay kept before (by this process or an earlier one under the same wallet) is worth nothing more.
        if (amount > 0) this.emit('paid', { unit: receipt.unit, amount });
      } else {
        await terms.earnings.forfeit(label);
      }
      return true;
    } catch (error) {
      this.warn(error as Error);
      if (!(error instanceof SpareCyclesError && UNKEEPABLE_PAY.has(error.code))) return false;
    }
    try {
      await terms.earnings.forfeit(label);
      return true;
    } catch (error) {
      this.warn(error as Error);
      return false;
    }
  }

  // ---- work ---------------------------------------------------------------------------

  private maybeClaim(): void {
    const manifest = this.manifest;
    const tasker = this.taskerChannel();
    if (this.stopped || this.paused || !manifest || !tasker || this.claimInFlight) return;
    // Keep every thread fed with one unit waiting behind it.
    const want = Math.min(LIMITS.unitsPerMessage, this.options.pool.size * 2 - this.outstanding);
    if (want <= 0) return;
    this.claimInFlight = true;
    tasker.send(
      this.sign({
        t: 'claim',
        v: 1,
        task: fromHex(this.infoHash),
        want,
        worker: this.options.identity.publicKey,
        nonce: this.options.backend.randomBytes(16),
      }),
    );
    const peer = this.channels.get(tasker);
    if (peer && peer.claimedAt === undefined) peer.claimedAt = Date.now();
    // No answer means nothing to hand out right now: ask again later.
    clearTimeout(this.claimTimer);
    this.claimTimer = setTimeout(() => {
      this.claimInFlight = false;
      this.dropSilentTasker();
      this.maybeClaim();
    }, this.options.claimIntervalMs ?? 1000);
  }

  /**
   * Gives up the tasker channel when claims on it have gone unanswered, with
   * nothing at all heard on it, for claimTimeoutMs while another channel to
   * the tasker is open: a peer relaying our wire to the tasker can pass the
   * handshake through and then swallow what follows. The next claim goes
   * down another channel.
   */
  private dropSilentTasker(): void {
    const channel = this.tasker;
    const since = channel && this.channels.get(channel)?.claimedAt;
    if (!channel?.open || since === undefined || Date.now() - since < (this.options.claimTimeoutMs ?? 30_000)) return;
    const another = [...this.channels].some(([other, peer]) => other !== channel && other.open && peer.taskerKey !== undefined);
    if (!another) return;
    this.warn(new TimeoutError(`expected an answer to claims on ${channel.peer} within ${this.options.claimTimeoutMs ?? 30_000} ms, got none: trying another channel to the tasker`));
    channel.close();
  }

  private async compute(batch: Batch, unit: number, lease: Uint8Array): Promise<void> {
    const manifest = this.manifest!;
    const ref = unitInputRef(manifest, unit);
    try {
      const outcome = await this.options.pool.run(
        this.module!.module,
        {
          unit,
          input: ref ? this.inputs.get(ref.path)! : new Uint8Array(0),
          memory: this.module!.memory,
          maxOutputBytes: manifest.limits.outputBytes,
        },
        manifest.limits.unitTimeMs,
      );
      const output = outcome.output;
      // A unit that ran took some time: clocks that tick in whole milliseconds
      // (Firefox's performance.now) would otherwise report 0 and look too fast to be real.
      const runMs = Math.min(LIMITS.unitTimeMs, Math.max(1, Math.ceil(outcome.busyMs)));
      if (this.options.stealth && output.length > LIMITS.inlineOutputBytes && !this.taskerChannel()?.greeting?.caps.includes(OUTPUT_PARTS_CAP)) {
        throw new SpareCyclesError('TOO_LARGE', `an output of ${output.length} bytes does not ride inline, a stealth worker seeds nothing from its own address, and the tasker reads no output parts`);
      }
      const done: Computed = { unit, lease, output, runMs };
      const terms = this.payTerms();
      if (terms) {
        // A result that cannot ask for pay still goes back: the work is not wasted for the tasker.
        done.blinded = await terms.earnings.request(terms.mint, terms.price, this.payLabel(unit, lease)).catch((error: Error) => {
          this.warn(error);
          return undefined;
        });
      }
      this.stats.computed++;
      this.emit('computed', { unit, busyMs: outcome.busyMs });
      // Small outputs go back at once, so the tasker can verify and hand out
      // more while the rest of the batch runs; large ones wait for one torrent.
      if (output.length <= LIMITS.inlineOutputBytes) this.sendResults([done]);
      else if (this.options.stealth) this.sendParts(done);
      else batch.large.push(done);
    } catch (error) {
      // No result goes back: the lease runs out and the tasker reissues the unit.
      this.stats.failed++;
      this.emit('failed', { unit, error: error as SpareCyclesError });
    } finally {
      this.outstanding--;
      batch.remaining--;
      if (batch.remaining === 0 && batch.large.length) void this.sendTorrentBatch(batch.large);
      this.maybeClaim();
    }
  }

  private async sendTorrentBatch(large: Computed[]): Promise<void> {
    if (this.stopped) return;
    try {
      // Anyone may fetch a result torrent: sealed under a key of its own that
      // only the tasker hears, its files are no outputs to anyone else.
      const key = this.options.backend.randomBytes(RESULT_CIPHER.keyBytes);
      const task = fromHex(this.infoHash);
      const torrent = await this.options.torrents.seedResults(
        `sc-result-${this.infoHash.slice(0, 8)}-${toHex(this.options.backend.randomBytes(4))}`,
        large.map((d) => ({ name: resultFileName(d.unit), bytes: sealResultFile(key, task, d.unit, d.output) })),
      );
      this.sendResults(large, { torrent, key });
    } catch (error) {
      this.warn(error as Error);
    }
  }

  /**
   * An output too large to ride inline, for a stealth worker: its parts, then
   * its result, in one go on one channel, which keeps them in order (the
   * tasker takes nothing else between them).
   */
  private sendParts(done: Computed): void {
    const channel = this.taskerChannel();
    if (this.stopped || !channel) return;
    const count = partCount(done.output.length);
    const task = fromHex(this.infoHash);
    for (let index = 0; index < count; index++) {
      const data = done.output.subarray(index * OUTPUT_PARTS.partBytes, (index + 1) * OUTPUT_PARTS.partBytes);
      channel.send(sealSigned({ t: 'output-part', v: 1, task, lease: done.lease, index, count, data }));
    }
    this.sendResults([done], undefined, count);
  }

  private sendResults(done: Computed[], sealed?: { torrent: Uint8Array; key: Uint8Array }, parts?: number): void {
    const channel = this.taskerChannel();
    if (this.stopped || !channel) return; // the tasker reissues what it never hears about
    for (const d of done) {
      channel.send(
        this.sign({
          t: 'result',
          v: 2,
          task: fromHex(this.infoHash),
          unit: d.unit,
          lease: d.lease,
          hash: this.options.backend.sha256(d.output),
          runMs: d.runMs,
          ...(sealed ? { torrent: sealed.torrent, key: sealed.key } : parts !== undefined ? { parts } : { output: d.output }),
          ...(d.blinded ? { blinded: d.blinded } : {}),
          worker: this.options.identity.publicKey,
        }),
      );
      remember(this.awaiting, toHex(d.lease));
    }
    this.stats.pending = this.awaiting.size;
  }

  private sign(message: UnsignedMessage): Sealed {
    return sealMessage(this.options.backend, this.options.identity.exportSeed(), message);
  }

  private warn(error: Error): void {
    this.emit('warning', error);
  }

  /** A payload or message refused: warned about, and a channel that keeps sending them is closed. */
  private refuse(channel: MessageChannel, error: Error): void {
    this.warn(error);
    const peer = this.channels.get(channel);
    if (peer && blamesPeer(error) && ++peer.invalid > MAX_INVALID) channel.close();
  }
}

/** Adds `key` to a set kept to LEASE_MEMORY entries, forgetting the oldest. */
function remember(set: Set<string>, key: string): void {
  set.delete(key);
  set.add(key);
  if (set.size > LEASE_MEMORY) set.delete(set.values().next().value!);
}
