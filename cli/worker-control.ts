// `cycles worker`'s side of the local control API (docs/control-api.md): its
// methods and events over the control server. cli/worker.ts creates it, hands
// it the engine once there is one, and stops when it is asked to.

import { cpus } from 'node:os';
import { toHex } from '../protocol/bytes.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import { ControlServer } from '../serve/control-server.ts';
import { cookieFileFor, controlPaths } from '../serve/control-paths.ts';
import { cpuBudget } from '../units/cpu-budget.ts';
import type { UnitPool } from '../units/pool.ts';
import type { WorkerEngine } from '../worker/engine.ts';
import type { Wallet } from '../worker/wallet.ts';
import { UsageError } from './usage.ts';

/** What a caller may subscribe to: the engine's events, and the worker's own stop. */
export const WORKER_EVENTS = ['ready', 'assigned', 'computed', 'failed', 'receipt', 'paid', 'stopping'] as const;

export interface WorkerControlOptions {
  identity: Identity;
  pool: UnitPool;
  wallet: Wallet;
  /** The CPU fraction the worker started with. */
  cpu: number;
  /** The socket's path; without it, worker.sock in the state folder. */
  socket?: string;
  cores?: number;
}

/** The worker's stop: a signal, or a caller's `stop`. The shape of cli/signals.ts's StopSignal. */
export interface WorkerStop {
  signal: AbortSignal;
  received: Promise<unknown>;
}

export class WorkerControl {
  private readonly server: ControlServer;
  private readonly stopper = new AbortController();
  private engine: WorkerEngine | undefined;
  private paused = false;
  private cpu: number;
  private readonly cores: number;

  constructor(private readonly options: WorkerControlOptions) {
    this.cpu = options.cpu;
    this.cores = options.cores ?? cpus().length;
    const paths = options.socket ? { socket: options.socket, cookieFile: cookieFileFor(options.socket) } : controlPaths('worker');
    this.server = new ControlServer({
      ...paths,
      role: 'worker',
      events: WORKER_EVENTS,
      methods: {
        status: () => this.status(),
        tasks: () => this.tasks(),
        wallet: () => this.wallet(),
        pause: () => this.setPaused(true),
        resume: () => this.setPaused(false),
        setCpu: (params) => this.setCpu(params.cpu),
        stop: () => this.requestStop(),
      },
    });
    this.server.on('warning', (error) => process.stderr.write(`warning: control: ${error.message}\n`));
  }

  get socket(): string {
    return this.server.socketPath;
  }

  start(): Promise<void> {
    return this.server.start();
  }

  close(): Promise<void> {
    return this.server.stop();
  }

  /** `signals` (SIGINT, SIGTERM) or a caller's `stop`, whichever comes first. */
  stopSignal(signals: WorkerStop): WorkerStop {
    signals.signal.addEventListener('abort', () => this.stopper.abort(), { once: true });
    const received = new Promise<unknown>((resolve) => this.stopper.signal.addEventListener('abort', () => resolve('stop'), { once: true }));
    this.stopper.signal.addEventListener('abort', () => this.server.notify('stopping', {}), { once: true });
    return { signal: this.stopper.signal, received };
  }

  /** The engine of the task the worker took: its state and events are served from now on. */
  attach(engine: WorkerEngine): void {
    this.engine = engine;
    if (this.paused) engine.pause();
    const notify = (event: (typeof WORKER_EVENTS)[number], params: Record<string, unknown>) => this.server.notify(event, { task: engine.infoHash, ...params });
    engine.on('ready', (m) => notify('ready', { name: m.name, units: m.units }));
    engine.on('assigned', (units) => notify('assigned', { units }));
    engine.on('computed', (c) => notify('computed', { unit: c.unit, busyMs: c.busyMs }));
    engine.on('failed', (f) => notify('failed', { unit: f.unit, code: f.error.code, message: f.error.message }));
    engine.on('receipt', (r) => notify('receipt', { unit: r.unit, status: r.status, ...(r.reason ? { reason: r.reason } : {}) }));
    engine.on('paid', (p) => notify('paid', { unit: p.unit, amount: p.amount, balance: this.options.wallet.balance() }));
  }

  private stage(): string {
    if (this.stopper.signal.aborted) return 'stopping';
    if (!this.engine) return 'waiting';
    return this.engine.manifest ? 'working' : 'fetching';
  }

  status(): Record<string, unknown> {
    const engine = this.engine;
    const manifest = engine?.manifest;
    const { threads, dutyCycle } = this.options.pool.budget;
    const s = engine?.stats;
    return {
      role: 'worker',
      key: toHex(this.options.identity.publicKey),
      stage: this.stage(),
      paused: this.paused,
      task: engine ? { infohash: engine.infoHash, ...(manifest ? { name: manifest.name, units: manifest.units } : {}) } : null,
      units: {
        assigned: s?.assigned ?? 0,
        computed: s?.computed ?? 0,
        failed: s?.failed ?? 0,
        accepted: s?.accepted ?? 0,
        rejected: s?.rejected ?? 0,
        pending: s?.pending ?? 0,
      },
      cpu: this.cpu,
      threads,
      dutyCycle,
      credits: s?.credits ?? 0,
    };
  }

  /** The tasks the worker works on (one, for now), with their progress as this worker sees it. */
  tasks(): Record<string, unknown> {
    const engine = this.engine;
    if (!engine) return { tasks: [] };
    const m = engine.manifest;
    const s = engine.stats;
    return {
      tasks: [
        {
          infohash: engine.infoHash,
          stage: this.stage(),
          ...(m ? { name: m.name, units: m.units, mode: m.mode, price: m.price, ...(m.mint ? { mint: m.mint } : {}), tasker: toHex(m.tasker) } : {}),
          progress: { assigned: s.assigned, computed: s.computed, failed: s.failed, accepted: s.accepted, rejected: s.rejected, pending: s.pending },
          credits: s.credits,
        },
      ],
    };
  }

  wallet(): Record<string, unknown> {
    const wallet = this.options.wallet;
    return { mints: wallet.mints().map((mint) => ({ mint, balance: wallet.balance(mint) })), total: wallet.balance() };
  }

  private setPaused(paused: boolean): Record<string, unknown> {
    // Stopping pauses the engine to let its units settle; nothing may undo that.
    if (this.stopper.signal.aborted) throw new SpareCyclesError('BUSY', 'the worker is stopping');
    this.paused = paused;
    if (paused) this.engine?.pause();
    else this.engine?.resume();
    return { paused };
  }

  /** Resizes the pool: more threads start at once; surplus ones retire once their units are done, so none is dropped. */
  private setCpu(value: unknown): Record<string, unknown> {
    const cpu = typeof value === 'number' ? value : NaN;
    if (!(cpu > 0 && cpu <= 1)) throw new UsageError(`expected cpu to be a fraction in (0, 1], got ${JSON.stringify(value)}`, { field: 'cpu' });
    this.options.pool.setBudget(cpuBudget(cpu, this.cores));
    this.cpu = cpu;
    // A running engine claims for its new thread count now rather than at its next claim.
    if (!this.paused && !this.stopper.signal.aborted) this.engine?.resume();
    const { threads, dutyCycle } = this.options.pool.budget;
    return { cpu, threads, dutyCycle };
  }

  private requestStop(): Record<string, unknown> {
    this.stopper.abort();
    return { stopping: true };
  }
}
