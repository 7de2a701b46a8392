// What the worker engine needs from its platform. Node implements these with
// WebTorrent and worker threads (worker/node/), the extension with
// webtorrent.min.js and Web Workers; the engine itself is the same code.

import type { FrameListener } from '../protocol/channel.ts';
import type { UnitPool } from '../units/pool.ts';

/** What the engine needs of a unit pool: its size, to know how much to claim, and a way to run one unit. */
export type UnitRunner = Pick<UnitPool, 'size' | 'run'>;

export interface TaskHandle {
  readonly infoHash: string;
  /** Resolves when every file is here and checked against the torrent's piece hashes. */
  complete(timeoutMs: number): Promise<void>;
  read(path: string): Promise<Uint8Array | undefined>;
  close(): void;
}

export interface TorrentPort {
  /**
   * Joins a task's swarm and carries the task channel (TASK_EXTENSION, BEP 10)
   * on every wire of it: `channels` hears each one that opens, as frames for
   * the secure layer (protocol/secure-channel.ts) to read.
   */
  openTask(magnet: string, channels: FrameListener): TaskHandle;
  /** Seeds result files and returns the torrent's 20-byte info-hash. */
  seedResults(name: string, files: Array<{ name: string; bytes: Uint8Array }>): Promise<Uint8Array>;
}

/** The pay a tasker's accepted receipt carries: the mint's blind signatures. */
export interface ReceivedPay {
  keyset: Uint8Array;
  signatures: Array<{ amount: number; C: Uint8Array; e: Uint8Array; s: Uint8Array }>;
}

/**
 * Where a worker keeps what it earns (worker/earnings.ts over a Wallet). The
 * label names one result (`task:unit:lease`), so pay that arrives late, or
 * never, is matched to the blinded outputs it answers.
 */
export interface Earnings {
  /** Blinded outputs for `amount` credits from `mint`, stored before they are returned. */
  request(mint: string, amount: number, label: string): Promise<Uint8Array[]>;
  /** Unblinds and keeps the pay for a result; returns the credits gained. */
  receive(mint: string, label: string, pay: ReceivedPay): Promise<number>;
  /** No pay is coming for this result. */
  forfeit(label: string): Promise<void>;
}
