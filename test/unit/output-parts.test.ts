// The tasker's hold on outputs that come in parts (tasker/output-parts.ts):
// whole outputs in order come out whole; anything out of order, over the
// task's output limit, over a worker's share or over the total is refused
// with a typed error, and what the channel held is dropped, so a hostile
// peer cannot make the tasker keep memory.

import { describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.ts';
import { LIMITS } from '../../protocol/constants.ts';
import { ProtocolError, SpareCyclesError } from '../../protocol/errors.ts';
import { decodeMessage, encodeMessage, type OutputPart } from '../../protocol/messages/index.ts';
import { OUTPUT_PARTS, partCount } from '../../protocol/messages/output-part.ts';
import { OutputParts } from '../../tasker/output-parts.ts';
import { caught } from '../support/caught.ts';

const task = new Uint8Array(20).fill(1);
const lease = (n: number) => new Uint8Array(16).fill(n);
const output = (length: number, seed = 0) => new Uint8Array(length).map((_, i) => (i * 13 + seed) & 255);

/** The parts an output goes in, each read back from its bytes as a tasker would. */
function partsOf(bytes: Uint8Array, id: Uint8Array): OutputPart[] {
  const count = partCount(bytes.length);
  return Array.from({ length: count }, (_, index) => {
    const data = bytes.subarray(index * OUTPUT_PARTS.partBytes, (index + 1) * OUTPUT_PARTS.partBytes);
    return decodeMessage(encodeMessage({ t: 'output-part', v: 1, task, lease: id, index, count, data })) as OutputPart;
  });
}

const MiB = 1024 * 1024;

describe('output parts', () => {
  it('come out whole and in order, and nothing is held after', () => {
    const parts = new OutputParts({ maxOutputBytes: MiB, maxHeldBytes: 4 * MiB });
    const channel = {};
    const bytes = output(3 * LIMITS.inlineOutputBytes + 17);
    for (const part of partsOf(bytes, lease(1))) parts.add(channel, 'w', part);
    expect(parts.stats()).toEqual({ outputs: 1, bytes: bytes.length });
    expect(toHex(parts.take(channel, lease(1), 4)!)).toBe(toHex(bytes));
    expect(parts.stats()).toEqual({ outputs: 0, bytes: 0 });
  });

  it('are not taken by a result for another lease, another count, or before the last part', () => {
    const parts = new OutputParts({ maxOutputBytes: MiB, maxHeldBytes: 4 * MiB });
    const channel = {};
    const all = partsOf(output(2 * LIMITS.inlineOutputBytes + 1), lease(1));
    for (const part of all) parts.add(channel, 'w', part);
    expect(parts.take(channel, lease(2), 3)).toBeUndefined();
    // Whatever a result did not take is dropped with it.
    expect(parts.stats().bytes).toBe(0);
    for (const part of all.slice(0, 2)) parts.add(channel, 'w', part);
    expect(parts.take(channel, lease(1), 3)).toBeUndefined();
    for (const part of all) parts.add(channel, 'w', part);
    expect(parts.take(channel, lease(1), 4)).toBeUndefined();
  });

  it('refuse parts out of order, of another lease or count, and drop what was held', () => {
    const parts = new OutputParts({ maxOutputBytes: MiB, maxHeldBytes: 4 * MiB });
    const channel = {};
    const [first, second, third] = partsOf(output(3 * LIMITS.inlineOutputBytes), lease(1));
    const other = partsOf(output(3 * LIMITS.inlineOutputBytes), lease(2));
    const refused = (part: OutputPart) => caught(() => parts.add(channel, 'w', part));
    expect(refused(second!)).toBeInstanceOf(ProtocolError);
    parts.add(channel, 'w', first!);
    expect(refused(third!)).toBeInstanceOf(ProtocolError);
    expect(parts.stats()).toEqual({ outputs: 0, bytes: 0 });
    parts.add(channel, 'w', first!);
    expect((refused(other[1]!) as SpareCyclesError).field).toBe('index');
    expect(parts.stats().bytes).toBe(0);
  });

  it('refuse an output past the task limit before holding any of it', () => {
    const parts = new OutputParts({ maxOutputBytes: 2 * LIMITS.inlineOutputBytes, maxHeldBytes: 4 * MiB });
    const channel = {};
    const [first] = partsOf(output(2 * LIMITS.inlineOutputBytes + 1), lease(1));
    const error = caught(() => parts.add(channel, 'w', first!)) as SpareCyclesError;
    expect(error).toBeInstanceOf(SpareCyclesError);
    expect(error.code).toBe('TOO_LARGE');
    expect(parts.stats()).toEqual({ outputs: 0, bytes: 0 });
  });

  it('hold at most a few outputs per worker key and a total, refusing the rest BUSY', () => {
    const parts = new OutputParts({ maxOutputBytes: MiB, maxHeldBytes: 5 * OUTPUT_PARTS.partBytes, perWorker: 2 });
    const [a, b, c, d] = [{}, {}, {}, {}];
    const first = (n: number) => partsOf(output(2 * LIMITS.inlineOutputBytes), lease(n))[0]!;
    parts.add(a, 'w', first(1));
    parts.add(b, 'w', first(2));
    expect((caught(() => parts.add(c, 'w', first(3))) as SpareCyclesError).code).toBe('BUSY');
    parts.add(c, 'x', first(4));
    parts.add(d, 'y', first(5));
    expect(parts.stats().bytes).toBe(4 * OUTPUT_PARTS.partBytes);
    // The second part of `a` fits the total; a sixth part would not.
    parts.add(a, 'w', partsOf(output(2 * LIMITS.inlineOutputBytes), lease(1))[1]!);
    expect((caught(() => parts.add(b, 'w', partsOf(output(2 * LIMITS.inlineOutputBytes), lease(2))[1]!)) as SpareCyclesError).code).toBe('BUSY');
    expect(parts.stats()).toEqual({ outputs: 3, bytes: 4 * OUTPUT_PARTS.partBytes });
  });

  it('are dropped when their channel closes or their lease is no longer live', () => {
    const parts = new OutputParts({ maxOutputBytes: MiB, maxHeldBytes: 4 * MiB });
    const [a, b] = [{}, {}];
    parts.add(a, 'w', partsOf(output(2 * LIMITS.inlineOutputBytes), lease(1))[0]!);
    parts.add(b, 'v', partsOf(output(2 * LIMITS.inlineOutputBytes), lease(2))[0]!);
    parts.prune((id) => id !== toHex(lease(1)));
    expect(parts.stats().outputs).toBe(1);
    parts.drop(b);
    expect(parts.stats()).toEqual({ outputs: 0, bytes: 0 });
  });
});
