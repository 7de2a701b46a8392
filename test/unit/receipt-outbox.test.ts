// The tasker's outbox of final receipts not yet acknowledged, in memory: kept
// in order per worker, one per lease, forgotten when acknowledged or too old,
// and bounded per worker and in total: receipts without pay go first, and
// then the worker holding the most loses its oldest.

import { describe, expect, it } from 'vitest';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { sealMessage, type Receipt, type Sealed } from '../../protocol/messages/index.ts';
import { MemoryReceiptOutbox, type HeldReceipt } from '../../tasker/receipt-outbox.ts';

const seed = new Uint8Array(32).fill(9);
const sealed = sealMessage(nodeCrypto, seed, {
  t: 'receipt', v: 1, task: new Uint8Array(20), unit: 0, lease: new Uint8Array(16), status: 'rejected', tasker: nodeCrypto.ed25519PublicKey(seed),
}) as Sealed<Receipt>;

const paidSealed = sealMessage(nodeCrypto, seed, {
  t: 'receipt', v: 1, task: new Uint8Array(20), unit: 0, lease: new Uint8Array(16), status: 'accepted',
  paid: { keyset: new Uint8Array(8), signatures: [{ amount: 4, C: new Uint8Array(32).fill(2), e: new Uint8Array(32), s: new Uint8Array(32) }] },
  tasker: nodeCrypto.ed25519PublicKey(seed),
}) as Sealed<Receipt>;

/** A held receipt named by its worker and a number (the lease and unit), first held at `at`. */
const held = (worker: string, n: number, at = 0): HeldReceipt => ({ worker, lease: n.toString(16).padStart(32, '0'), unit: n, at, sealed });
/** The same, carrying pay. */
const paid = (worker: string, n: number, at = 0): HeldReceipt => ({ ...held(worker, n, at), sealed: paidSealed });
const units = (list: HeldReceipt[]) => list.map((h) => h.unit);
const limits = (perWorker: number, total: number) => ({ perWorker, total, maxAgeMs: 1000 });

describe('receipt outbox', () => {
  it('holds a worker its receipts until each is acknowledged, oldest first', async () => {
    const outbox = new MemoryReceiptOutbox();
    await outbox.put(held('a', 1));
    await outbox.put(held('b', 2));
    await outbox.put(held('a', 3));
    expect(outbox.size).toBe(3);
    expect(units(outbox.held('a'))).toEqual([1, 3]);
    // Sending does not take them: only an ack does.
    expect(units(outbox.held('a'))).toEqual([1, 3]);
    expect(outbox.workers().sort()).toEqual(['a', 'b']);
    expect(outbox.ack('a', held('a', 1).lease)).toBe(true);
    expect(outbox.ack('a', held('a', 1).lease)).toBe(false);
    // Another worker's ack for a lease it does not hold takes nothing.
    expect(outbox.ack('b', held('a', 3).lease)).toBe(false);
    expect(units(outbox.held('a'))).toEqual([3]);
    expect(outbox.size).toBe(2);
    outbox.ack('a', held('a', 3).lease);
    expect(outbox.workers()).toEqual(['b']);
    expect(outbox.size).toBe(1);
  });

  it('keeps one receipt per worker and lease: a new one replaces the old', async () => {
    const outbox = new MemoryReceiptOutbox();
    await outbox.put(held('a', 1, 5));
    await outbox.put(held('a', 1, 6));
    expect(outbox.size).toBe(1);
    expect(outbox.held('a').map((h) => h.at)).toEqual([6]);
  });

  it('drops the oldest of a worker over its limit, and says so', () => {
    const dropped: string[] = [];
    const outbox = new MemoryReceiptOutbox(limits(2, 10), (h) => dropped.push(`${h.worker}:${h.unit}`));
    for (let i = 1; i <= 4; i++) outbox.add(held('a', i));
    expect(dropped).toEqual(['a:1', 'a:2']);
    expect(units(outbox.held('a'))).toEqual([3, 4]);
    expect(outbox.size).toBe(2);
  });

  it('over the total, takes from the worker holding the most, not from the others', () => {
    const dropped: string[] = [];
    const outbox = new MemoryReceiptOutbox(limits(100, 5), (h) => dropped.push(`${h.worker}:${h.unit}`));
    outbox.add(held('honest', 1));
    outbox.add(held('other', 2));
    // One key floods the outbox.
    for (let i = 10; i < 20; i++) outbox.add(held('flood', i));
    expect(outbox.size).toBe(5);
    expect(units(outbox.held('honest'))).toEqual([1]);
    expect(units(outbox.held('other'))).toEqual([2]);
    expect(units(outbox.held('flood'))).toEqual([17, 18, 19]);
    expect(dropped).toEqual([10, 11, 12, 13, 14, 15, 16].map((i) => `flood:${i}`));
  });

  it('never lets a flood of keys with receipts without pay push out a worker\'s paid ones', () => {
    const dropped: string[] = [];
    const outbox = new MemoryReceiptOutbox(limits(100, 5), (h) => dropped.push(`${h.worker}:${h.unit}`));
    // An honest worker, offline, holds the most: three paid receipts.
    for (const n of [1, 2, 3]) outbox.add(paid('honest', n));
    // Throwaway keys each earn one rejection and never acknowledge it.
    for (let i = 0; i < 50; i++) outbox.add(held(`throwaway-${i}`, 100 + i));
    expect(outbox.size).toBe(5);
    expect(units(outbox.held('honest'))).toEqual([1, 2, 3]);
    expect(dropped.every((d) => d.startsWith('throwaway-'))).toBe(true);
    expect(dropped).toHaveLength(48);
  });

  it('over the total, drops a receipt without pay before any paid one, the fullest worker\'s paid only when none is left', () => {
    const dropped: string[] = [];
    const outbox = new MemoryReceiptOutbox(limits(100, 3), (h) => dropped.push(`${h.worker}:${h.unit}`));
    outbox.add(paid('a', 1));
    outbox.add(held('b', 2));
    outbox.add(paid('a', 3));
    outbox.add(paid('c', 4));
    expect(dropped).toEqual(['b:2']);
    outbox.add(paid('c', 5));
    expect(dropped).toEqual(['b:2', 'a:1']);
    expect(outbox.size).toBe(3);
    // An unpaid receipt when every other is paid: it is the one dropped.
    outbox.add(held('d', 6));
    expect(dropped).toEqual(['b:2', 'a:1', 'd:6']);
    expect(units(outbox.held('a'))).toEqual([3]);
    expect(units(outbox.held('c'))).toEqual([4, 5]);
  });

  it('over a worker\'s limit, drops its receipts without pay first, and never a paid one for an unpaid one', () => {
    const dropped: string[] = [];
    const outbox = new MemoryReceiptOutbox(limits(2, 100), (h) => dropped.push(`${h.worker}:${h.unit}`));
    outbox.add(paid('a', 1));
    outbox.add(held('a', 2));
    outbox.add(paid('a', 3));
    expect(dropped).toEqual(['a:2']);
    outbox.add(held('a', 4));
    expect(dropped).toEqual(['a:2', 'a:4']);
    expect(units(outbox.held('a'))).toEqual([1, 3]);
    // A receipt replaced by a paid one for the same lease counts as paid.
    outbox.add(held('b', 7));
    outbox.add(paid('b', 7));
    outbox.add(paid('b', 8));
    outbox.add(held('b', 9));
    expect(units(outbox.held('b'))).toEqual([7, 8]);
  });

  it('forgets receipts held since before a time, and returns them', () => {
    const outbox = new MemoryReceiptOutbox();
    outbox.add(held('a', 1, 100));
    outbox.add(held('b', 2, 200));
    outbox.add(held('a', 3, 300));
    expect(units(outbox.expire(250))).toEqual([1, 2]);
    expect(units(outbox.held('a'))).toEqual([3]);
    expect(outbox.workers()).toEqual(['a']);
    expect(outbox.expire(250)).toEqual([]);
  });

  it('refuses limits that hold nothing', () => {
    expect(() => new MemoryReceiptOutbox({ perWorker: 0, total: 1, maxAgeMs: 1 })).toThrow(/perWorker: expected a positive integer, got 0/);
    expect(() => new MemoryReceiptOutbox({ perWorker: 1, total: 1.5, maxAgeMs: 1 })).toThrow(/total/);
    expect(() => new MemoryReceiptOutbox({ perWorker: 1, total: 1, maxAgeMs: 0 })).toThrow(/maxAgeMs/);
  });
});
