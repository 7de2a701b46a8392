// One published task, from seeding to merged output. The session talks to
// workers through the channel seam (protocol/channel.ts): today the task
// torrent's wires carry the channels (BEP 10, protocol/wire.ts), and a
// rendezvous's stealth streams, on which it also serves the task torrent
// itself (routed-task-server.ts). It hands out
// units through the Coordinator, fetches and checks results, runs the
// tasker's own checks (canaries, tiebreaks, samples) in its unit pool, and
// when every unit is verified merges the outputs.

import { EventEmitter } from 'node:events';
import type WebTorrent from 'webtorrent';
import type { Torrent } from 'webtorrent';
import type { Logger } from '../serve/log.ts';
import { fromHex, toHex } from '../protocol/bytes.ts';
import { LIMITS, PAY_LIMITS, TASK_EXTENSION } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import type { ChannelListener, FrameListener, MessageChannel } from '../protocol/channel.ts';
import { blamesPeer, HashMismatchError, ProtocolError, SpareCyclesError } from '../protocol/errors.ts';
import type { Manifest } from '../protocol/manifest.ts';
import { sealMessage, verifySealed } from '../protocol/messages/index.ts';
import type { Claim, OutputPart, Result, Sealed, UnsignedMessage } from '../protocol/messages/index.ts';
import type { Ack, Receipt } from '../protocol/messages/index.ts';
import { prepareUnitModule } from '../protocol/unit-module.ts';
import type { PreparedModule } from '../protocol/unit-module.ts';
import { SecureResponder } from '../protocol/secure-channel.ts';
import { attachChannel, type TaskWire } from '../protocol/wire.ts';
import type { UnitPool } from '../units/pool.ts';
import { addressGroup, STEALTH_GROUP } from './address-group.ts';
import { runTaskUnit } from './local-run.ts';
import { mergeOutputs } from './merge.ts';
import { OutputParts } from './output-parts.ts';
import { RoutedTaskServer, torrentPieces } from './routed-task-server.ts';
import { ResultFetcher } from './result-fetcher.ts';
import { seedTask } from './task-torrent.ts';
import type { TaskDir } from './task-dir.ts';
import type { Paid } from './payer.ts';
import { MemoryReceiptOutbox } from './receipt-outbox.ts';
import type { DroppedListener, HeldReceipt, ReceiptOutbox } from './receipt-outbox.ts';
import { UnitPayments } from './unit-payments.ts';
import type { PayerPort } from './unit-payments.ts';
import { Coordinator } from './verify/coordinator.ts';
import type { Defence } from './verify/defence.ts';
import type { CoordinatorStats, Progress } from './verify/coordinator.ts';

export interface TaskerOptions {
  backend: CryptoBackend;
  identity: Identity;
  client: WebTorrent;
  pool: UnitPool;
  trackers: string[];
  /** Folder for this session's torrent storage. */
  storage: string;
  log: Logger;
  /** How long a worker has for one unit before it is reissued. */
  leaseMs?: number;
  /** Pays accepted units at the task's mint; without it results are accepted unpaid. */
  payer?: PayerPort;
  random?: () => number;
  now?: () => number;
  /**
   * Where final receipts are kept until their workers acknowledge them (a
   * file per task: tasker/receipt-store.ts), opened once the task's
   * info-hash is known; in memory without it.
   */
  openOutbox?: (task: string, dropped: DroppedListener) => Promise<ReceiptOutbox>;
  /**
   * The address group of a channel's peer (address-group.ts by default).
   * A loopback network stands in for many hosts on one address, so it
   * passes each connection as a group of its own.
   */
  groupOf?: (peer: string) => string;
  /** The coordinator's checks against coordinated cheaters, where a caller tunes them (verify/defence.ts). */
  defence?: Partial<Defence>;
  /**
   * Bytes of output parts (output-part.ts) held for all workers together
   * while their results are on the way; four of the task's largest outputs,
   * and at least 64 MiB, by default.
   */
  maxPartBytes?: number;
}

/**
 * A held receipt is sent again on its worker's live channel after
 * `firstMs`, then after twice as long each time, `tries` times; a new
 * channel from the worker starts this over.
 */
export const RESEND = { firstMs: 5_000, tries: 6 } as const;

/** What the session knows of one channel. */
interface Peer {
  /** The worker key the channel greeted with (hex, and as bytes for messages). */
  worker?: string;
  workerKey?: Uint8Array;
  /** Payloads and messages refused so far. */
  invalid: number;
}

interface LeaseRecord {
  channel: MessageChannel;
  worker: string;
  unit: number;
  /** When the coordinator takes the lease back: output parts for it are dropped after. */
  deadline: number;
  hash?: string;
  /** The blinded outputs the result asked to be paid in. */
  blinded?: Uint8Array[];
  /** A final receipt (accepted or rejected) went out for this lease. */
  settled?: boolean;
  /** Its pay is being fetched from the mint: the record must outlive its worker's, for the receipt to be held. */
  paying?: boolean;
}

/** How much the session keeps, for tests and reports: what must not grow with throwaway keys. */
export interface SessionStats {
  channels: number;
  waiting: number;
  /** Lease records: of live leases, and of results whose receipt may still be due. */
  leases: number;
  /** Outputs kept, all units together. */
  outputs: number;
  resends: number;
  /** Outputs being assembled from parts, and the bytes they hold. */
  parts: { outputs: number; bytes: number };
  coordinator: CoordinatorStats;
}

export interface TaskerEvents {
  progress: [Progress];
  /** A result arrived: `pending` (or `disputed`) news, or `rejected` at once for a lease that was not its to use. */
  result: [{ worker: string; unit: number; status: string; reason?: string }];
  /** A result's final verdict, told when its epoch closes (verify/verdicts.ts); `paid`: pay is owed (the `paid` event says when it went out). */
  verdict: [{ worker: string; unit: number; status: 'accepted' | 'rejected'; reason?: string; paid: boolean }];
  paid: [{ worker: string; unit: number; amount: number }];
  done: [Uint8Array];
  /** Every final receipt held was acknowledged by its worker. */
  delivered: [];
}

const MAX_INVALID = 8;

export class TaskerSession extends EventEmitter<TaskerEvents> {
  readonly manifest: Manifest;
  readonly coordinator: Coordinator;
  torrent!: Torrent;
  /** Where a transport's frame channels from workers go: a rendezvous's stealth streams, on which the task torrent is served too. */
  frames!: FrameListener;
  /** Serves the task torrent on stealth streams, to workers that join no swarm. */
  taskServer!: RoutedTaskServer;
  private readonly task: TaskDir;
  private readonly options: TaskerOptions;
  private readonly leases = new Map<string, LeaseRecord>();
  private readonly outputs = new Map<number, Map<string, Uint8Array>>();
  private readonly channels = new Map<MessageChannel, Peer>();
  /** Claims not (fully) served yet: answered as soon as units free up, not at the worker's next retry. */
  private readonly waiting = new Map<MessageChannel, number>();
  private readonly fetcher: ResultFetcher;
  /** Large outputs arriving in parts, until their results take them. */
  private readonly parts: OutputParts;
  /** Payments in flight: their accepted receipts wait for the mint. */
  private readonly payments = new Set<Promise<void>>();
  private readonly unitPayments: UnitPayments | undefined;
  /** Final receipts not acknowledged yet: sent again when their worker greets on a new channel, and now and then on a live one. */
  private outbox: ReceiptOutbox;
  /** Per held receipt (`worker:lease`): sends on live channels since the worker's last greeting, and when the next is due. */
  private readonly resends = new Map<string, { tries: number; nextAt: number }>();
  private module!: PreparedModule;
  private timer: ReturnType<typeof setInterval> | undefined;
  private finished = false;
  private stopped = false;
  /** The coordinator's count of forgotten keys when this session last pruned after it. */
  private prunedAt = 0;
  readonly done: Promise<Uint8Array>;
  private resolveDone!: (merged: Uint8Array) => void;
  private rejectDone!: (error: Error) => void;

  private constructor(options: TaskerOptions, task: TaskDir, manifest: Manifest, canaries: Map<number, Uint8Array>) {
    super();
    this.options = options;
    this.task = task;
    this.manifest = manifest;
    this.coordinator = new Coordinator({
      units: manifest.units,
      policy: manifest.verify,
      canaries,
      leaseMs: options.leaseMs ?? Math.max(10_000, manifest.limits.unitTimeMs * 2),
      ...(options.random ? { random: options.random } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.defence ? { defence: options.defence } : {}),
    });
    this.fetcher = new ResultFetcher(
      options.client,
      options.trackers,
      options.storage,
      manifest.limits.outputBytes * LIMITS.unitsPerMessage,
    );
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => {});
    this.unitPayments = options.payer && new UnitPayments(options.payer);
    this.parts = new OutputParts({
      maxOutputBytes: manifest.limits.outputBytes,
      maxHeldBytes: options.maxPartBytes ?? Math.max(64 * 1024 * 1024, 4 * manifest.limits.outputBytes),
    });
    this.outbox = new MemoryReceiptOutbox(undefined, this.dropped);
  }

  get identity(): Identity {
    return this.options.identity;
  }

  get infoHash(): string {
    return this.torrent.infoHash;
  }

  get magnet(): string {
    return this.torrent.magnetURI;
  }

  /** Checks the task, computes its canaries, seeds the torrent and starts taking workers. */
  static async start(options: TaskerOptions, task: TaskDir, manifest: Manifest): Promise<TaskerSession> {
    const module = await prepareUnitModule(options.backend, manifest, task.files.get(manifest.module.path)!);
    const random = options.random ?? Math.random;
    const canaryUnits = pickCanaries(manifest.units, manifest.verify.canaryPpm, random);
    const canaryOutputs = new Map<number, Uint8Array>();
    await Promise.all(
      canaryUnits.map(async (unit) => canaryOutputs.set(unit, (await runTaskUnit(options.pool, module, task.files, manifest, unit)).output)),
    );
    const canaries = new Map([...canaryOutputs].map(([unit, out]) => [unit, options.backend.sha256(out)]));
    const session = new TaskerSession(options, task, manifest, canaries);
    session.module = module;
    for (const [unit, output] of canaryOutputs) session.keepOutput(unit, output, canaries.get(unit)!);
    // Every wire is bound by the task-wire handshake to the worker at its other end before the session hears of it.
    const secure = new SecureResponder(
      {
        backend: options.backend,
        identity: options.identity,
        infoHash: () => fromHex(session.infoHash),
        caps: ['wasm', 'bep10', 'result-torrent', 'output-parts'],
        agent: 'sparecycles-tasker/0.1',
      },
      session.listener,
    );
    session.torrent = await seedTask(options.client, manifest, task.files, {
      trackers: options.trackers,
      path: options.storage,
      onWire: (wire) => attachChannel(wire as unknown as TaskWire, TASK_EXTENSION, secure.frames),
    });
    session.taskServer = new RoutedTaskServer(torrentPieces(session.torrent), {
      warn: (error, peer) => options.log({ level: 'warn', event: 'task-fetch-refused', peer, code: error.code, message: error.message }),
    });
    session.frames = session.taskServer.frames(secure.frames);
    if (options.openOutbox) {
      session.outbox = await options.openOutbox(session.infoHash, session.dropped);
      if (session.outbox.size > 0) options.log({ level: 'info', event: 'receipts-loaded', count: session.outbox.size });
    }
    session.timer = setInterval(() => session.tick(), 1000);
    session.timer.unref?.();
    options.log({ level: 'info', event: 'task-seeded', magnet: session.magnet, units: manifest.units, canaries: canaryUnits.length });
    return session;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.fetcher.stop();
    // Pay in these has not reached its workers yet: say so, for whoever settles with them.
    if (this.outbox.size > 0) this.options.log({ level: 'warn', event: 'receipts-undelivered', count: this.outbox.size });
    await this.outbox.flush().catch((error: Error) => this.options.log({ level: 'error', event: 'receipt-store-failed', message: error.message }));
    if (!this.finished) this.rejectDone(new SpareCyclesError('INTERNAL', 'the tasker stopped before the task was done'));
  }

  // ---- channel events -----------------------------------------------------------------

  /** Hears every channel to this task's workers, whatever transport opened it. */
  readonly listener: ChannelListener = {
    open: (channel) => this.onOpen(channel),
    message: (channel, sealed) => this.onMessage(channel, sealed),
    invalid: (channel, error) => this.onInvalid(channel, error),
    closed: (channel) => this.onClosed(channel),
  };

  /** A channel whose handshake completed: it speaks for the worker key the handshake authenticated, and no other. */
  private onOpen(channel: MessageChannel): void {
    const key = channel.remote;
    if (!key) {
      this.onInvalid(channel, new ProtocolError('expected a task channel bound to a worker key, got one without', { field: 'remote' }));
      return;
    }
    const worker = toHex(key);
    this.channels.set(channel, { invalid: 0, worker, workerKey: key });
    this.options.log({ level: 'debug', event: 'worker-hello', worker, agent: channel.greeting?.agent ?? '' });
    this.redeliver(channel, worker);
  }

  private onClosed(channel: MessageChannel): void {
    const worker = this.channels.get(channel)?.worker;
    this.channels.delete(channel);
    this.waiting.delete(channel);
    this.parts.drop(channel);
    if (worker && this.channelOf(worker) === undefined) {
      const lost = this.coordinator.workerLost(worker);
      if (lost.length) this.options.log({ level: 'info', event: 'worker-lost', worker, units: lost.map((l) => l.unit) });
      this.afterProgress();
    }
  }

  /** An open channel whose handshake authenticated `worker`. */
  private channelOf(worker: string): MessageChannel | undefined {
    for (const [channel, peer] of this.channels) if (channel.open && peer.worker === worker) return channel;
    return undefined;
  }

  /** A payload that did not decode, or a message refused: logged, and a channel whose peer keeps sending bad ones is closed. */
  private onInvalid(channel: MessageChannel, error: SpareCyclesError, blame = blamesPeer(error)): void {
    const peer = this.channels.get(channel);
    this.options.log({ level: 'warn', event: 'bad-message', worker: peer?.worker, peer: channel.peer, code: error.code, message: error.message });
    if (peer && blame && ++peer.invalid >= MAX_INVALID) channel.close();
  }

  private onMessage(channel: MessageChannel, sealed: Sealed): void {
    if (this.stopped) return;
    const message = sealed.message;
    try {
      if (message.t === 'claim') this.onClaim(channel, sealed as Sealed<Claim>);
      else if (message.t === 'result') void this.onResult(channel, sealed as Sealed<Result>);
      else if (message.t === 'ack') this.onAck(channel, sealed as Sealed<Ack>);
      else if (message.t === 'output-part') this.onOutputPart(channel, message);
      else throw new ProtocolError(`expected claim, result, output-part or ack from a worker, got ${message.t}`, { field: 't' });
    } catch (error) {
      this.onInvalid(channel, typed(error));
    }
  }

  /**
   * One part of a large output, for a live lease of the channel's worker
   * with no result yet. Parts over the task's output limit count against
   * the peer like a malformed message.
   */
  private onOutputPart(channel: MessageChannel, part: OutputPart): void {
    const worker = this.channels.get(channel)?.worker;
    if (!worker) throw new ProtocolError('expected an output-part on a channel bound to a worker, got one on another', { field: 'lease' });
    if (toHex(part.task) !== this.infoHash) throw new ProtocolError('expected an output-part for this task, got one for another', { field: 'task' });
    const lease = this.leases.get(toHex(part.lease));
    if (!lease || lease.worker !== worker || lease.hash !== undefined || this.now() > lease.deadline) {
      this.parts.drop(channel);
      throw new ProtocolError('expected an output-part for a live lease of this worker, got one for an unknown, foreign or used lease', { field: 'lease' });
    }
    try {
      this.parts.add(channel, worker, part);
    } catch (error) {
      const e = typed(error);
      this.onInvalid(channel, e, blamesPeer(e) || e.code === 'TOO_LARGE');
    }
  }

  // ---- receipts until acknowledged ----------------------------------------------------

  /** A worker greeted on a new channel: everything held for it goes out there, and its resend schedule starts over. */
  private redeliver(channel: MessageChannel, worker: string): void {
    const held = this.outbox.held(worker);
    if (held.length === 0) return;
    for (const h of held) this.sendHeld(h, channel);
    this.options.log({ level: 'info', event: 'receipts-redelivered', worker, units: held.map((h) => h.unit) });
  }

  private sendHeld(held: HeldReceipt, channel: MessageChannel, tries = 0): void {
    channel.send(held.sealed);
    this.resends.set(`${held.worker}:${held.lease}`, { tries, nextAt: this.now() + RESEND.firstMs * 2 ** tries });
  }

  /**
   * Held receipts whose worker is on a live channel and has not acknowledged
   * them go out again, with backoff and at most RESEND.tries times; one
   * loaded from disk goes out at once. Receipts older than the outbox keeps
   * are dropped.
   */
  private resendDue(): void {
    const now = this.now();
    const expired = this.outbox.expire(now - PAY_LIMITS.receiptHoldMs);
    for (const h of expired) this.dropped(h);
    let resent = 0;
    for (const worker of this.outbox.workers()) {
      const channel = this.channelOf(worker);
      if (!channel) continue;
      for (const h of this.outbox.held(worker)) {
        const due = this.resends.get(`${worker}:${h.lease}`);
        if (due && (due.tries >= RESEND.tries || now < due.nextAt)) continue;
        this.sendHeld(h, channel, due ? due.tries + 1 : 0);
        resent++;
      }
    }
    if (resent > 0) this.options.log({ level: 'debug', event: 'receipts-resent', count: resent });
    if (expired.length > 0 && this.outbox.size === 0) this.emit('delivered');
  }

  /** The worker has kept (or forfeited) the pay of these leases: their receipts are forgotten. */
  private onAck(channel: MessageChannel, sealed: Sealed<Ack>): void {
    verifySealed(this.options.backend, sealed);
    const ack = sealed.message;
    const worker = this.channels.get(channel)?.worker;
    if (!worker || toHex(ack.worker) !== worker) {
      throw new ProtocolError('expected an ack from the key this channel greeted with, got another', { field: 'worker' });
    }
    if (toHex(ack.task) !== this.infoHash) throw new ProtocolError('expected an ack for this task, got one for another', { field: 'task' });
    let acked = 0;
    for (const lease of ack.leases) {
      const hex = toHex(lease);
      // An ack for a receipt not held (acknowledged before, or never ours) is no error: acks cross resends.
      if (this.outbox.ack(worker, hex)) acked++;
      this.resends.delete(`${worker}:${hex}`);
    }
    if (acked === 0) return;
    this.options.log({ level: 'debug', event: 'receipts-acked', worker, count: acked });
    if (this.outbox.size === 0) this.emit('delivered');
  }

  /** Told of a receipt dropped unacknowledged: over the outbox's limits, or too old. */
  private readonly dropped = (held: HeldReceipt): void => {
    this.resends.delete(`${held.worker}:${held.lease}`);
    this.options.log({ level: 'warn', event: 'receipt-dropped', worker: held.worker, unit: held.unit, why: 'too many or too old receipts held unacknowledged' });
  };

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Final receipts not acknowledged by their workers yet, each carrying what the worker is owed. */
  get heldReceipts(): number {
    return this.outbox.size;
  }

  /**
   * Resolves true once every final receipt is acknowledged, false after
   * `timeoutMs`: a tasker about to exit gives workers that were cut off a
   * bounded while to come back for their pay.
   */
  receiptsDelivered(timeoutMs: number): Promise<boolean> {
    if (this.outbox.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.off('delivered', onDelivered);
        resolve(ok);
      };
      const onDelivered = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.on('delivered', onDelivered);
    });
  }

  private onClaim(channel: MessageChannel, sealed: Sealed<Claim>): void {
    verifySealed(this.options.backend, sealed);
    const claim = sealed.message;
    const peer = this.channels.get(channel);
    if (!peer?.workerKey || toHex(claim.worker) !== peer.worker) {
      throw new ProtocolError('expected a claim from the key this channel greeted with, got another', { field: 'worker' });
    }
    if (toHex(claim.task) !== this.infoHash) throw new ProtocolError('expected a claim for this task, got one for another', { field: 'task' });
    this.waiting.set(channel, claim.want);
    this.options.log({ level: 'debug', event: 'claim', worker: peer.worker, want: claim.want });
    this.serve(channel);
  }

  /** Hands out what the coordinator allows against a channel's standing claim. */
  private serve(channel: MessageChannel): void {
    const want = this.waiting.get(channel);
    const peer = this.channels.get(channel);
    if (want === undefined || this.finished || !channel.open || !peer?.worker || !peer.workerKey) return;
    // Stealth workers are one class whatever their peer string says; so are
    // peers with no address to group them by (`unknown`): standing alone,
    // each would count as a group of its own, which any key could arrange.
    const group = channel.route === 'onion' ? STEALTH_GROUP : (this.options.groupOf ?? addressGroup)(channel.peer);
    this.coordinator.introduce(peer.worker, { group });
    const units = this.coordinator.assign(peer.worker, want);
    if (units.length === 0) return;
    if (units.length >= want) this.waiting.delete(channel);
    else this.waiting.set(channel, want - units.length);
    for (const a of units) {
      const id = toHex(a.lease);
      this.leases.set(id, { channel, worker: peer.worker, unit: a.unit, deadline: a.deadline });
    }
    channel.send(
      this.sign({
        t: 'assign',
        v: 1,
        task: fromHex(this.infoHash),
        units: units.map((a) => ({ unit: a.unit, lease: a.lease })),
        deadline: Math.max(...units.map((a) => a.deadline)),
        worker: peer.workerKey,
        tasker: this.options.identity.publicKey,
      }),
    );
    this.options.log({ level: 'debug', event: 'assigned', worker: peer.worker, units: units.map((a) => a.unit) });
  }

  private serveWaiting(): void {
    for (const channel of [...this.waiting.keys()]) {
      if (!channel.open) this.waiting.delete(channel);
      else this.serve(channel);
    }
  }

  private async onResult(channel: MessageChannel, sealed: Sealed<Result>): Promise<void> {
    try {
      verifySealed(this.options.backend, sealed);
      const result = sealed.message;
      // Taken before anything else: whatever this channel held for a result is its to use, or no one's.
      const assembled = result.parts === undefined ? undefined : this.parts.take(channel, result.lease, result.parts);
      const worker = this.channels.get(channel)?.worker;
      if (!worker || toHex(result.worker) !== worker) {
        throw new ProtocolError('expected a result from the key this channel greeted with, got another', { field: 'worker' });
      }
      if (toHex(result.task) !== this.infoHash) throw new ProtocolError('expected a result for this task, got one for another', { field: 'task' });
      const leaseHex = toHex(result.lease);
      const lease = this.leases.get(leaseHex);
      if (!lease || lease.worker !== worker || lease.unit !== result.unit || lease.hash !== undefined) {
        this.receipt(channel, result.unit, result.lease, 'rejected', 'unknown, foreign or used lease');
        return;
      }
      const output = result.output ?? (result.parts === undefined ? await this.fetchOutput(result) : assembled);
      const hash = output && this.options.backend.sha256(output);
      if (!output || !hash || toHex(hash) !== toHex(result.hash) || output.length > this.manifest.limits.outputBytes) {
        lease.hash = toHex(result.hash);
        const missing = result.parts === undefined ? 'result torrent does not hold its output' : 'the output parts it names did not all come';
        this.receipt(channel, result.unit, result.lease, 'rejected', output ? 'output does not match its hash' : missing);
        lease.settled = true;
        return;
      }
      lease.hash = toHex(hash);
      if (result.blinded) lease.blinded = result.blinded;
      this.keepOutput(result.unit, output, hash);
      const outcome = this.coordinator.submit(worker, result.lease, result.unit, hash, result.runMs);
      // Every verdict waits for its epoch to close (verify/verdicts.ts): until then a receipt only says "pending".
      if (outcome.status === 'ignored' || outcome.status === 'rejected') {
        lease.settled = true;
        this.emit('result', { worker, unit: result.unit, status: 'rejected', reason: outcome.reason });
        this.receipt(channel, result.unit, result.lease, 'rejected', outcome.reason ?? outcome.status);
      } else {
        // News, not a verdict: "pending" (or "disputed") until the epoch closes.
        this.emit('result', { worker, unit: result.unit, status: outcome.status, reason: outcome.reason });
        this.receipt(channel, result.unit, result.lease, 'pending');
      }
      for (const cheat of outcome.penalised ?? []) this.options.log({ level: 'warn', event: 'cheater', worker: cheat });
      this.applySettlements();
      await this.runLocalChecks();
      this.afterProgress();
    } catch (error) {
      this.onInvalid(channel, typed(error));
    }
  }

  /**
   * The output a result torrent holds, or undefined when the worker's torrent
   * lacks it or it does not open under the result's key: a bad result, like
   * one whose output does not match its hash. Failing to fetch at all is no
   * verdict: the lease runs out and the unit is reissued.
   */
  private async fetchOutput(result: Result): Promise<Uint8Array | undefined> {
    try {
      return await this.fetcher.fetch(result.task, result.torrent!, result.key!, result.unit);
    } catch (error) {
      if (!(error instanceof HashMismatchError)) throw error;
      this.options.log({ level: 'warn', event: 'bad-result-torrent', worker: toHex(result.worker), unit: result.unit, message: error.message });
      return undefined;
    }
  }

  // ---- verification ------------------------------------------------------------------

  private async runLocalChecks(): Promise<void> {
    for (const check of this.coordinator.localChecks()) {
      const output = (await runTaskUnit(this.options.pool, this.module, this.task.files, this.manifest, check.unit)).output;
      const hash = this.options.backend.sha256(output);
      this.keepOutput(check.unit, output, hash);
      const judgments = this.coordinator.resolveLocal(check.unit, hash);
      this.options.log({ level: 'info', event: 'local-check', unit: check.unit, reason: check.reason, judged: judgments.length });
      for (const j of judgments) if (j.status === 'rejected') this.options.log({ level: 'warn', event: 'cheater', worker: j.worker });
      this.applySettlements();
    }
  }

  /** Sends the receipts of every verdict that became final, paying for the accepted ones. */
  private applySettlements(): void {
    for (const verdict of this.coordinator.settle()) {
      const leaseId = verdict.lease;
      const lease = this.leases.get(toHex(leaseId));
      // A lease refused at once already had its verdict.
      if (lease?.settled) continue;
      this.emit('verdict', { worker: verdict.worker, unit: verdict.unit, status: verdict.status, reason: verdict.reason, paid: verdict.paid });
      if (!lease) continue;
      lease.settled = true;
      if (verdict.status === 'rejected') this.receipt(lease.channel, verdict.unit, leaseId, 'rejected', verdict.reason);
      else if (verdict.paid) this.accept(lease, leaseId);
      else this.receipt(lease.channel, verdict.unit, leaseId, 'accepted', verdict.reason);
    }
  }

  /** An accepted result: paid at the mint first when the task pays, then its receipt carries the pay. */
  private accept(lease: LeaseRecord, leaseId: Uint8Array): void {
    const payments = this.unitPayments;
    if (!payments) {
      this.receipt(lease.channel, lease.unit, leaseId, 'accepted');
      return;
    }
    if (!lease.blinded) {
      this.receipt(lease.channel, lease.unit, leaseId, 'accepted', 'unpaid: the result carried no blinded outputs');
      return;
    }
    lease.paying = true;
    const paying = payments
      .pay(lease.worker, lease.unit, lease.blinded)
      .then(
        (paid) => {
          if (!paid) {
            this.receipt(lease.channel, lease.unit, leaseId, 'accepted', 'unpaid: this unit was already paid for');
            return;
          }
          // The receipt before the event: a listener that throws must not keep the worker from its pay.
          this.receipt(lease.channel, lease.unit, leaseId, 'accepted', undefined, paid);
          this.emit('paid', { worker: lease.worker, unit: lease.unit, amount: payments.payer.price });
        },
        (error: Error) => {
          const code = (error as { code?: string }).code ?? 'NETWORK';
          this.options.log({ level: 'warn', event: 'payment-failed', worker: lease.worker, unit: lease.unit, code, message: error.message });
          this.receipt(lease.channel, lease.unit, leaseId, 'accepted', `unpaid: ${code}`);
        },
      )
      .catch((error: unknown) => this.fault('receipt-failed', error, { worker: lease.worker, unit: lease.unit }));
    this.payments.add(paying);
    void paying.finally(() => {
      this.payments.delete(paying);
      lease.paying = false;
    });
  }

  /** Resolves once no payment is in flight: call before stopping, so no worker's pay is cut off. */
  async paymentsSettled(): Promise<void> {
    while (this.payments.size > 0) await Promise.allSettled([...this.payments]);
  }

  /** Runs from a timer: one that throws (a listener of ours, say) is logged, and the next runs as usual. */
  private tick(): void {
    if (this.stopped) return;
    try {
      // Workers are owed their receipts after the task is done, too.
      this.resendDue();
      // Parts for a lease that ran out, was used or forgotten are no one's any more.
      const now = this.now();
      this.parts.prune((id) => {
        const lease = this.leases.get(id);
        return lease !== undefined && lease.hash === undefined && now <= lease.deadline;
      });
      if (this.finished) return;
      const expired = this.coordinator.expire();
      if (expired.length) this.options.log({ level: 'info', event: 'leases-expired', units: expired.map((e) => e.unit) });
      if (this.coordinator.forgotten !== this.prunedAt) this.prune();
      // An epoch may close with time alone.
      this.applySettlements();
      this.afterProgress();
    } catch (error) {
      this.fault('tick-failed', error);
    }
  }

  private afterProgress(): void {
    this.emit('progress', this.coordinator.progress());
    this.serveWaiting();
    if (this.finished || !this.coordinator.isComplete()) return;
    this.finished = true;
    // At the merge every verdict is final.
    this.applySettlements();
    try {
      const outputs = Array.from({ length: this.manifest.units }, (_, unit) => {
        const hash = toHex(this.coordinator.verifiedHash(unit)!);
        const output = this.outputs.get(unit)?.get(hash);
        if (!output) throw new SpareCyclesError('INTERNAL', `unit ${unit} was verified but its output is missing`);
        return output;
      });
      this.resolveDone(mergeOutputs(this.manifest, outputs));
    } catch (error) {
      this.rejectDone(error as Error);
    }
  }

  // ---- memory --------------------------------------------------------------------------

  /**
   * Drops what the session keeps for keys the coordinator has forgotten
   * (verify/coordinator.ts): their lease records, since no verdict is owed
   * them any more and a late result on such a lease is refused as unknown,
   * which is what the coordinator would say too; and outputs no counted
   * answer or verified hash stands for any more (a wrong output of a key
   * long gone is not worth its bytes). A lease being paid keeps its record
   * until the receipt is held.
   */
  private prune(): void {
    this.prunedAt = this.coordinator.forgotten;
    for (const [id, lease] of this.leases) {
      if (!lease.paying && !this.coordinator.remembers(lease.worker)) this.leases.delete(id);
    }
    for (const [unit, byHash] of this.outputs) {
      if (byHash.size < 2) continue;
      const wanted = new Set(this.coordinator.hashesInPlay(unit).map(toHex));
      for (const hash of byHash.keys()) if (!wanted.has(hash)) byHash.delete(hash);
    }
  }

  /** What the session keeps now; read-only. */
  stats(): SessionStats {
    let outputs = 0;
    for (const byHash of this.outputs.values()) outputs += byHash.size;
    return {
      channels: this.channels.size,
      waiting: this.waiting.size,
      leases: this.leases.size,
      outputs,
      resends: this.resends.size,
      parts: this.parts.stats(),
      coordinator: this.coordinator.stats(),
    };
  }

  // ---- helpers ------------------------------------------------------------------------

  /** Keeps an output under the hash the caller already computed for it. */
  private keepOutput(unit: number, output: Uint8Array, hash: Uint8Array): void {
    let byHash = this.outputs.get(unit);
    if (!byHash) this.outputs.set(unit, (byHash = new Map()));
    byHash.set(toHex(hash), output);
  }

  private receipt(
    channel: MessageChannel,
    unit: number,
    lease: Uint8Array,
    status: 'accepted' | 'rejected' | 'pending',
    reason?: string,
    paid?: Paid,
  ): void {
    const leaseHex = toHex(lease);
    const worker = this.channels.get(channel)?.worker ?? this.leases.get(leaseHex)?.worker;
    // The channel a result came on may be gone while the worker holds another (TCP and WebRTC).
    if (!channel.open && worker) channel = this.channelOf(worker) ?? channel;
    // A receipt without pay is sent at best once; one with pay is the worker's only copy of it, so it waits for the worker to come back.
    if (!channel.open && (!paid || !worker)) return;
    const sealed = this.sign({
      t: 'receipt',
      v: 1,
      task: fromHex(this.infoHash),
      unit,
      lease,
      status,
      ...(reason === undefined ? {} : { reason: reason.slice(0, 120) }),
      ...(paid ? { paid } : {}),
      tasker: this.options.identity.publicKey,
    }) as Sealed<Receipt>;
    // Kept until acknowledged: a receipt that carries pay, for a lease the
    // worker holds. Nothing else is: anyone can earn a rejection with a
    // throwaway key and never acknowledge it, and a flood of those must not
    // push paid receipts out of the outbox (a worker whose receipt without
    // pay is lost forgets the outputs it asked for when they expire). One of
    // a second result on a lease must not take the place of the receipt held
    // for it.
    const holds = (w: string) => this.leases.get(leaseHex)?.worker === w && !this.outbox.held(w).some((h) => h.lease === leaseHex);
    if (!paid || !worker || !holds(worker)) {
      if (channel.open) channel.send(sealed);
      return;
    }
    const held: HeldReceipt = { worker, lease: leaseHex, unit, at: this.now(), sealed };
    // Sent once it is kept (on disk, for a stored outbox): a crash between
    // sending and keeping could lose the only copy of the pay.
    const send = () => {
      if (this.stopped || this.outbox.held(worker).every((h) => h.lease !== leaseHex)) return;
      const live = channel.open ? channel : this.channelOf(worker);
      if (live) this.sendHeld(held, live);
      else this.options.log({ level: 'info', event: 'receipt-held', worker, unit, status, paid: paid !== undefined });
    };
    this.outbox
      .put(held)
      .then(send, (error: Error) => {
        // Not on disk, but held in memory all the same: the worker should still have its pay.
        this.options.log({ level: 'error', event: 'receipt-store-failed', worker, unit, message: error.message });
        send();
      })
      // A send that threw (the wire died under it): the receipt is still held, and goes out again on the next tick.
      .catch((error: unknown) => this.fault('receipt-send-failed', error, { worker, unit }));
  }

  /** A failure of ours in work no caller waits for: logged as a typed error, never an unhandled rejection that ends the process. */
  private fault(event: string, error: unknown, fields: Record<string, unknown> = {}): void {
    const e = typed(error);
    this.options.log({ level: 'error', event, ...fields, code: e.code, message: e.message });
  }

  private sign(message: UnsignedMessage): Sealed {
    return sealMessage(this.options.backend, this.options.identity.exportSeed(), message);
  }
}

/** Anything a handler threw, as a typed error for the log: a bug of ours shows as INTERNAL, not as the peer's fault. */
function typed(error: unknown): SpareCyclesError {
  if (error instanceof SpareCyclesError) return error;
  return new SpareCyclesError('INTERNAL', (error as Error).message, { cause: error });
}

function pickCanaries(units: number, ppm: number, random: () => number): number[] {
  if (ppm === 0) return [];
  const count = Math.min(units, Math.max(1, Math.round((units * ppm) / 1_000_000)));
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(Math.floor(random() * units));
  return [...chosen];
}
