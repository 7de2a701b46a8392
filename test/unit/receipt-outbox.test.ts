// The tasker's outbox of receipts for workers whose wire is gone: kept in
// order until the worker greets again, and bounded per worker and in total,
// the worker holding the most losing its oldest first.

import { describe, expect, it } from 'vitest';
import { ReceiptOutbox } from '../../tasker/receipt-outbox.ts';

describe('receipt outbox', () => {
  it('hands a worker its receipts once, oldest first', () => {
    const outbox = new ReceiptOutbox<number>();
    outbox.put('a', 1);
    outbox.put('b', 2);
    outbox.put('a', 3);
    expect(outbox.size).toBe(3);
    expect(outbox.take('a')).toEqual([1, 3]);
    expect(outbox.take('a')).toEqual([]);
    expect(outbox.size).toBe(1);
    expect(outbox.held('b')).toBe(1);
  });

  it('drops the oldest of a worker over its limit, and says so', () => {
    const dropped: string[] = [];
    const outbox = new ReceiptOutbox<number>({ perWorker: 2, total: 10 }, (worker, item) => dropped.push(`${worker}:${item}`));
    for (let i = 1; i <= 4; i++) outbox.put('a', i);
    expect(dropped).toEqual(['a:1', 'a:2']);
    expect(outbox.take('a')).toEqual([3, 4]);
    expect(outbox.size).toBe(0);
  });

  it('over the total, takes from the worker holding the most, not from the others', () => {
    const dropped: string[] = [];
    const outbox = new ReceiptOutbox<number>({ perWorker: 100, total: 5 }, (worker, item) => dropped.push(`${worker}:${item}`));
    outbox.put('honest', 1);
    outbox.put('other', 2);
    // One key floods the outbox.
    for (let i = 10; i < 20; i++) outbox.put('flood', i);
    expect(outbox.size).toBe(5);
    expect(outbox.take('honest')).toEqual([1]);
    expect(outbox.take('other')).toEqual([2]);
    expect(outbox.take('flood')).toEqual([17, 18, 19]);
    expect(dropped).toEqual([10, 11, 12, 13, 14, 15, 16].map((i) => `flood:${i}`));
  });

  it('refuses limits that hold nothing', () => {
    expect(() => new ReceiptOutbox({ perWorker: 0, total: 1 })).toThrow(/perWorker: expected a positive integer, got 0/);
    expect(() => new ReceiptOutbox({ perWorker: 1, total: 1.5 })).toThrow(/total/);
  });
});
