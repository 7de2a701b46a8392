// Outputs that come in parts (protocol/messages/output-part.ts): the
// tasker holds the parts of one output per channel, in order, until the
// result that names them takes the whole. What it holds is bounded three
// ways, since any peer may send parts: an output no larger than the task's
// limits.outputBytes, a few outputs per worker key, and a total for the
// session; and it is dropped when its channel closes or its lease ends.
// A channel is ordered, and an honest worker sends an output's parts and
// then its result in one go, so anything out of that order is refused and
// what was held for it dropped.

import { toHex } from '../protocol/bytes.ts';
import { ProtocolError, SpareCyclesError } from '../protocol/errors.ts';
import type { OutputPart } from '../protocol/messages/index.ts';
import { OUTPUT_PARTS } from '../protocol/messages/output-part.ts';

export interface OutputPartsOptions {
  /** Largest output a unit of this task may return (the manifest's limits.outputBytes). */
  maxOutputBytes: number;
  /** Bytes held for all channels together. */
  maxHeldBytes: number;
  /** Outputs held at once for one worker key (its channels together). */
  perWorker?: number;
}

interface Assembly {
  worker: string;
  lease: string;
  count: number;
  parts: Uint8Array[];
  bytes: number;
}

/** Outputs one worker key may be assembling at once: one per channel it may hold (TCP and WebRTC). */
const PER_WORKER = 2;

export class OutputParts {
  private readonly byChannel = new Map<object, Assembly>();
  private held = 0;

  constructor(private readonly options: OutputPartsOptions) {}

  /**
   * Takes one part from `worker` on `channel`, for a lease the caller has
   * checked is the worker's and live. Throws a typed error for a part that
   * breaks the order or a bound; whatever the channel held is dropped then.
   */
  add(channel: object, worker: string, part: OutputPart): void {
    const lease = toHex(part.lease);
    const smallest = (part.count - 1) * OUTPUT_PARTS.partBytes + 1;
    if (smallest > this.options.maxOutputBytes) {
      this.drop(channel);
      throw new SpareCyclesError('TOO_LARGE', `output-part: ${part.count} parts make at least ${smallest} bytes, over this task's output limit of ${this.options.maxOutputBytes}`, { field: 'count' });
    }
    let assembly = this.byChannel.get(channel);
    if (part.index === 0) {
      // A fresh start: whatever this channel held unfinished is given up.
      this.drop(channel);
      const others = [...this.byChannel.values()].filter((a) => a.worker === worker).length;
      if (others >= (this.options.perWorker ?? PER_WORKER)) {
        throw new SpareCyclesError('BUSY', `output-part: ${others} outputs already held for this worker`, { field: 'lease' });
      }
      assembly = { worker, lease, count: part.count, parts: [], bytes: 0 };
      this.byChannel.set(channel, assembly);
    } else if (!assembly || assembly.lease !== lease || assembly.count !== part.count || assembly.parts.length !== part.index) {
      const expected = assembly ? `part ${assembly.parts.length} of ${assembly.count} for the lease begun` : 'part 0';
      this.drop(channel);
      throw new ProtocolError(`output-part: expected ${expected}, got part ${part.index} of ${part.count}`, { field: 'index' });
    }
    if (this.held + part.data.length > this.options.maxHeldBytes) {
      this.drop(channel);
      throw new SpareCyclesError('BUSY', `output-part: ${this.held} bytes of parts held already, the most is ${this.options.maxHeldBytes}`, { field: 'data' });
    }
    assembly.parts.push(part.data);
    assembly.bytes += part.data.length;
    this.held += part.data.length;
  }

  /**
   * The whole output of a result that names `count` parts for `lease`, or
   * undefined when this channel holds no such complete output. Either way
   * the channel holds nothing after.
   */
  take(channel: object, lease: Uint8Array, count: number): Uint8Array | undefined {
    const assembly = this.byChannel.get(channel);
    this.drop(channel);
    if (!assembly || assembly.lease !== toHex(lease) || assembly.count !== count || assembly.parts.length !== count) return undefined;
    const out = new Uint8Array(assembly.bytes);
    let at = 0;
    for (const part of assembly.parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** Drops what `channel` holds: it closed, or broke the order. */
  drop(channel: object): void {
    const assembly = this.byChannel.get(channel);
    if (!assembly) return;
    this.byChannel.delete(channel);
    this.held -= assembly.bytes;
  }

  /** Drops every output whose lease is no longer live (run out, used, forgotten). */
  prune(live: (lease: string) => boolean): void {
    for (const [channel, assembly] of this.byChannel) if (!live(assembly.lease)) this.drop(channel);
  }

  /** Outputs being assembled, and the bytes they hold. */
  stats(): { outputs: number; bytes: number } {
    return { outputs: this.byChannel.size, bytes: this.held };
  }
}
