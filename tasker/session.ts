// One published task, from seeding to merged output. The session talks to
// workers through the channel seam (protocol/channel.ts): today the task
// torrent's wires carry the channels (BEP 10, protocol/wire.ts). It hands out
// units through the Coordinator, fetches and checks results, runs the
// tasker's own checks (canaries, tiebreaks, samples) in its unit pool, and
// when every unit is verified merges the outputs.

import { EventEmitter } from 'node:events';
import type WebTorrent from 'webtorrent';
import type { Torrent } from 'webtorrent';
import type { Logger } from '../serve/log.ts';
import { fromHex, toHex } from '../protocol/bytes.ts';
import { LIMITS, TASK_EXTENSION } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import type { ChannelListener, MessageChannel } from '../protocol/channel.ts';
import { blamesPeer, ProtocolError, SpareCyclesError } from '../protocol/errors.ts';
import type { Manifest } from '../protocol/manifest.ts';
import { sealMessage, verifySealed } from '../protocol/messages/index.ts';
import type { Claim, Hello, Result, Sealed, UnsignedMessage } from '../protocol/messages/index.ts';
import { prepareUnitModule } from '../protocol/unit-module.ts';
import type { PreparedModule } from '../protocol/unit-module.ts';
import { attachChannel, type TaskWire } from '../protocol/wire.ts';
import type { UnitPool } from '../units/pool.ts';
import { runTaskUnit } from './local-run.ts';
import { mergeOutputs } from './merge.ts';
import { ResultFetcher } from './result-fetcher.ts';
import { seedTask } from './task-torrent.ts';
import type { TaskDir } from './task-dir.ts';
import type { Paid } from './payer.ts';
import { ReceiptOutbox } from './receipt-outbox.ts';
import { UnitPayments } from './unit-payments.ts';
import type { PayerPort } from './unit-payments.ts';
import { Coordinator } from './verify/coordinator.ts';
import type { Progress } from './verify/coordinator.ts';

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
}

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
  hash?: string;
  /** The blinded outputs the result asked to be paid in. */
  blinded?: Uint8Array[];
  /** A final receipt (accepted or rejected) went out for this lease. */
  settled?: boolean;
}

export interface TaskerEvents {
  progress: [Progress];
  result: [{ worker: string; unit: number; status: string; reason?: string }];
  paid: [{ worker: string; unit: number; amount: number }];
  done: [Uint8Array];
  /** The last receipt held for an absent worker went out. */
  delivered: [];
}

const MAX_INVALID = 8;

export class TaskerSession extends EventEmitter<TaskerEvents> {
  readonly manifest: Manifest;
  readonly coordinator: Coordinator;
  torrent!: Torrent;
  private readonly task: TaskDir;
  private readonly options: TaskerOptions;
  private readonly leases = new Map<string, LeaseRecord>();
  /** Lease ids by unit, so settling a unit does not walk every lease of the task. */
  private readonly leasesByUnit = new Map<number, string[]>();
  private readonly outputs = new Map<number, Map<string, Uint8Array>>();
  private readonly channels = new Map<MessageChannel, Peer>();
  /** Claims not (fully) served yet: answered as soon as units free up, not at the worker's next retry. */
  private readonly waiting = new Map<MessageChannel, number>();
  private readonly fetcher: ResultFetcher;
  /** Payments in flight: their accepted receipts wait for the mint. */
  private readonly payments = new Set<Promise<void>>();
  private readonly unitPayments: UnitPayments | undefined;
  /** Final receipts due while their worker had no open wire, sent when it greets again. */
  private readonly outbox: ReceiptOutbox<{ unit: number; sealed: Sealed }>;
  private module!: PreparedModule;
  private timer: ReturnType<typeof setInterval> | undefined;
  private finished = false;
  private stopped = false;
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
    this.outbox = new ReceiptOutbox(undefined, (worker, { unit }) =>
      options.log({ level: 'warn', event: 'receipt-dropped', worker, unit, why: 'too many receipts held for workers away' }),
    );
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
    session.torrent = await seedTask(options.client, manifest, task.files, {
      trackers: options.trackers,
      path: options.storage,
      onWire: (wire) => attachChannel(wire as unknown as TaskWire, TASK_EXTENSION, session.listener),
    });
    session.timer = setInterval(() => session.tick(), 1000);
    session.timer.unref?.();
    options.log({ level: 'info', event: 'task-seeded', magnet: session.magnet, units: manifest.units, canaries: canaryUnits.length });
    return session;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.fetcher.stop();
    // Pay in these never reaches its workers: say so, for whoever settles with them.
    if (this.outbox.size > 0) this.options.log({ level: 'warn', event: 'receipts-undelivered', count: this.outbox.size });
    if (!this.finished) this.rejectDone(new Error('the tasker stopped before the task was done'));
  }

  // ---- channel events -----------------------------------------------------------------

  /** Hears every channel to this task's workers, whatever transport opened it. */
  readonly listener: ChannelListener = {
    open: (channel) => this.onOpen(channel),
    message: (channel, sealed) => this.onMessage(channel, sealed),
    invalid: (channel, error) => this.onInvalid(channel, error),
    closed: (channel) => this.onClosed(channel),
  };

  private onOpen(channel: MessageChannel): void {
    this.channels.set(channel, { invalid: 0 });
    const hello: UnsignedMessage = {
      t: 'hello',
      v: 1,
      key: this.options.identity.publicKey,
      role: 'tasker',
      caps: ['wasm', 'bep10', 'result-torrent'],
      agent: 'sparecycles-tasker/0.1',
      nonce: this.options.backend.randomBytes(16),
      ts: Date.now(),
    };
    channel.send(this.sign(hello));
  }

  private onClosed(channel: MessageChannel): void {
    const worker = this.channels.get(channel)?.worker;
    this.channels.delete(channel);
    this.waiting.delete(channel);
    if (worker && this.channelOf(worker) === undefined) {
      const lost = this.coordinator.workerLost(worker);
      if (lost.length) this.options.log({ level: 'info', event: 'worker-lost', worker, units: lost.map((l) => l.unit) });
      this.afterProgress();
    }
  }

  /** An open channel that greeted as `worker`. */
  private channelOf(worker: string): MessageChannel | undefined {
    for (const [channel, peer] of this.channels) if (channel.open && peer.worker === worker) return channel;
    return undefined;
  }

  /** A payload that did not decode, or a message refused: logged, and a channel whose peer keeps sending bad ones is closed. */
  private onInvalid(channel: MessageChannel, error: SpareCyclesError): void {
    const peer = this.channels.get(channel);
    this.options.log({ level: 'warn', event: 'bad-message', worker: peer?.worker, peer: channel.peer, code: error.code, message: error.message });
    if (peer && blamesPeer(error) && ++peer.invalid >= MAX_INVALID) channel.close();
  }

  private onMessage(channel: MessageChannel, sealed: Sealed): void {
    if (this.stopped) return;
    const message = sealed.message;
    try {
      if (message.t === 'hello') this.onHello(channel, sealed as Sealed<Hello>);
      else if (message.t === 'claim') this.onClaim(channel, sealed as Sealed<Claim>);
      else if (message.t === 'result') void this.onResult(channel, sealed as Sealed<Result>);
      else throw new ProtocolError(`expected hello, claim or result from a worker, got ${message.t}`, { field: 't' });
    } catch (error) {
      this.onInvalid(channel, typed(error));
    }
  }

  private onHello(channel: MessageChannel, sealed: Sealed<Hello>): void {
    verifySealed(this.options.backend, sealed);
    const hello = sealed.message;
    if (hello.role !== 'worker') return; // another seeder of the task; nothing to say
    const peer = this.channels.get(channel);
    if (!peer) return;
    const worker = toHex(hello.key);
    if (peer.worker && peer.worker !== worker) {
      throw new ProtocolError(`expected the worker key this channel greeted with, got another`, { field: 'key' });
    }
    peer.worker = worker;
    peer.workerKey = hello.key;
    this.options.log({ level: 'debug', event: 'worker-hello', worker, agent: hello.agent });
    const held = this.outbox.take(worker);
    if (held.length === 0) return;
    for (const { sealed: receipt } of held) channel.send(receipt);
    this.options.log({ level: 'info', event: 'receipts-redelivered', worker, units: held.map((h) => h.unit) });
    if (this.outbox.size === 0) this.emit('delivered');
  }

  /** Final receipts held for workers that have no live wire, each carrying what the worker is owed. */
  get heldReceipts(): number {
    return this.outbox.size;
  }

  /**
   * Resolves true once no receipt is held for an absent worker, false after
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
    const units = this.coordinator.assign(peer.worker, want);
    if (units.length === 0) return;
    if (units.length >= want) this.waiting.delete(channel);
    else this.waiting.set(channel, want - units.length);
    for (const a of units) {
      const id = toHex(a.lease);
      this.leases.set(id, { channel, worker: peer.worker, unit: a.unit });
      const ids = this.leasesByUnit.get(a.unit);
      if (ids) ids.push(id);
      else this.leasesByUnit.set(a.unit, [id]);
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
      const output = result.output ?? (await this.fetcher.fetch(result.torrent!, result.unit));
      const hash = this.options.backend.sha256(output);
      if (toHex(hash) !== toHex(result.hash)) {
        lease.hash = toHex(result.hash);
        this.receipt(channel, result.unit, result.lease, 'rejected', 'output does not match its hash');
        lease.settled = true;
        return;
      }
      lease.hash = toHex(hash);
      if (result.blinded) lease.blinded = result.blinded;
      this.keepOutput(result.unit, output, hash);
      const outcome = this.coordinator.submit(worker, result.lease, result.unit, hash, result.runMs);
      this.emit('result', { worker, unit: result.unit, status: outcome.status, reason: outcome.reason });
      if (outcome.status === 'pending') this.receipt(channel, result.unit, result.lease, 'pending');
      else if (outcome.status !== 'accepted') {
        lease.settled = true;
        this.receipt(channel, result.unit, result.lease, 'rejected', outcome.reason ?? outcome.status);
      }
      for (const { unit } of outcome.verified ?? []) this.settleUnit(unit);
      for (const worker of outcome.penalised ?? []) this.settleWorker(worker);
      this.settleUnit(result.unit);
      await this.runLocalChecks();
      this.afterProgress();
    } catch (error) {
      this.onInvalid(channel, typed(error));
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
      for (const j of judgments) if (j.status === 'rejected') this.settleWorker(j.worker);
      this.settleUnit(check.unit);
    }
  }

  /** Sends final receipts for a unit whose hash is now known. */
  private settleUnit(unit: number): void {
    const verified = this.coordinator.verifiedHash(unit);
    if (!verified) return;
    const hex = toHex(verified);
    for (const leaseHex of this.leasesByUnit.get(unit) ?? []) {
      const lease = this.leases.get(leaseHex)!;
      if (lease.settled || lease.hash === undefined) continue;
      lease.settled = true;
      const ok = lease.hash === hex && !this.coordinator.reputation.isBanned(lease.worker);
      if (ok) this.accept(lease, fromHex(leaseHex));
      else this.receipt(lease.channel, unit, fromHex(leaseHex), 'rejected', 'does not match the verified output');
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
    const paying = payments.pay(lease.worker, lease.unit, lease.blinded).then(
      (paid) => {
        if (!paid) {
          this.receipt(lease.channel, lease.unit, leaseId, 'accepted', 'unpaid: this unit was already paid for');
          return;
        }
        this.emit('paid', { worker: lease.worker, unit: lease.unit, amount: payments.payer.price });
        this.receipt(lease.channel, lease.unit, leaseId, 'accepted', undefined, paid);
      },
      (error: Error) => {
        const code = (error as { code?: string }).code ?? 'NETWORK';
        this.options.log({ level: 'warn', event: 'payment-failed', worker: lease.worker, unit: lease.unit, code, message: error.message });
        this.receipt(lease.channel, lease.unit, leaseId, 'accepted', `unpaid: ${code}`);
      },
    );
    this.payments.add(paying);
    void paying.finally(() => this.payments.delete(paying));
  }

  /** Resolves once no payment is in flight: call before stopping, so no worker's pay is cut off. */
  async paymentsSettled(): Promise<void> {
    while (this.payments.size > 0) await Promise.allSettled([...this.payments]);
  }

  /** A worker proven to cheat: every open result of theirs is rejected. */
  private settleWorker(worker: string): void {
    this.options.log({ level: 'warn', event: 'cheater', worker });
    for (const [leaseHex, lease] of this.leases) {
      if (lease.worker !== worker || lease.settled || lease.hash === undefined) continue;
      lease.settled = true;
      this.receipt(lease.channel, lease.unit, fromHex(leaseHex), 'rejected', 'worker proven to cheat');
    }
  }

  private tick(): void {
    if (this.stopped || this.finished) return;
    const expired = this.coordinator.expire();
    if (expired.length) this.options.log({ level: 'info', event: 'leases-expired', units: expired.map((e) => e.unit) });
    this.afterProgress();
  }

  private afterProgress(): void {
    this.emit('progress', this.coordinator.progress());
    this.serveWaiting();
    if (this.finished || !this.coordinator.isComplete()) return;
    this.finished = true;
    try {
      const outputs = Array.from({ length: this.manifest.units }, (_, unit) => {
        const hash = toHex(this.coordinator.verifiedHash(unit)!);
        const output = this.outputs.get(unit)?.get(hash);
        if (!output) throw new Error(`unit ${unit} was verified but its output is missing`);
        return output;
      });
      this.resolveDone(mergeOutputs(this.manifest, outputs));
    } catch (error) {
      this.rejectDone(error as Error);
    }
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
    const worker = this.channels.get(channel)?.worker ?? this.leases.get(toHex(lease))?.worker;
    // The channel a result came on may be gone while the worker holds another (TCP and WebRTC).
    if (!channel.open && worker) channel = this.channelOf(worker) ?? channel;
    // A pending receipt is only news; a final one may carry the worker's pay, so it waits for the worker to come back.
    if (!channel.open && (status === 'pending' || !worker)) return;
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
    });
    if (channel.open) channel.send(sealed);
    else {
      this.outbox.put(worker!, { unit, sealed });
      this.options.log({ level: 'info', event: 'receipt-held', worker, unit, status, paid: paid !== undefined });
    }
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
