// The pool's duty cycle, with a scripted thread and fake timers: the thread
// stands in for a worker thread because what is under test is the scheduling,
// and real threads would make it a timing test.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { cpuBudget, restAfter } from '../../units/cpu-budget.ts';
import { UnitPool } from '../../units/pool.ts';
import type { UnitThread } from '../../units/pool.ts';
import type { ThreadReply } from '../../units/unit-thread.ts';

describe('cpu budget', () => {
  it('turns a slider into threads and a duty cycle', () => {
    expect(cpuBudget(1, 2)).toEqual({ threads: 2, dutyCycle: 1 });
    expect(cpuBudget(0.5, 2)).toEqual({ threads: 1, dutyCycle: 1 });
    expect(cpuBudget(0.25, 2)).toEqual({ threads: 1, dutyCycle: 0.5 });
    expect(cpuBudget(0.75, 4)).toEqual({ threads: 3, dutyCycle: 1 });
    expect(cpuBudget(0.1, 1)).toEqual({ threads: 1, dutyCycle: 0.1 });
    expect(() => cpuBudget(0, 2)).toThrow(RangeError);
    expect(() => cpuBudget(1.5, 2)).toThrow(RangeError);
    expect(() => cpuBudget(Number.NaN, 2)).toThrow(RangeError);
  });

  it('rests so that busy time is the duty share of wall time', () => {
    expect(restAfter(100, 1)).toBe(0);
    expect(restAfter(100, 0.5)).toBe(100);
    expect(restAfter(100, 0.25)).toBe(300);
  });
});

describe('pool scheduling', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('starts the next unit on a thread only after its rest', async () => {
    vi.useFakeTimers();
    const started: number[] = [];
    const thread: UnitThread = {
      run: async (job, onStart) => {
        started.push(Date.now());
        onStart();
        return { ok: true, output: Uint8Array.of(job.request.unit), busyMs: 100 } satisfies ThreadReply;
      },
      terminate: () => {},
    };
    const pool = new UnitPool({ threads: 1, dutyCycle: 0.25, spawn: () => thread });
    const module = {} as WebAssembly.Module;
    const request = (unit: number) => ({ unit, input: new Uint8Array(0), memory: { minPages: 1, maxPages: 1 }, maxOutputBytes: 8 });
    const t0 = Date.now();
    const first = pool.run(module, request(0), 1000);
    const second = pool.run(module, request(1), 1000);
    await first;
    expect(started).toEqual([t0]);
    await vi.advanceTimersByTimeAsync(299);
    expect(started).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await second;
    expect(started).toEqual([t0, t0 + 300]);
    await pool.stop();
  });

  it('replaces a thread that times out and fails queued work when stopped', async () => {
    vi.useFakeTimers();
    let spawned = 0;
    let terminated = 0;
    const pool = new UnitPool({
      threads: 1,
      dutyCycle: 1,
      spawn: () => {
        spawned++;
        return {
          run: (_job, onStart) => {
            onStart();
            return new Promise<ThreadReply>(() => {});
          },
          terminate: () => void terminated++,
        };
      },
    });
    const module = {} as WebAssembly.Module;
    const request = { unit: 0, input: new Uint8Array(0), memory: { minPages: 1, maxPages: 1 }, maxOutputBytes: 8 };
    const hung = pool.run(module, request, 50).catch((e: Error) => e.name);
    const queued = pool.run(module, request, 50).catch((e: Error) => e.name);
    await vi.advanceTimersByTimeAsync(50);
    expect(await hung).toBe('UnitTimeoutError');
    expect(spawned).toBe(2);
    expect(terminated).toBe(1);
    // The queued unit is now running on the fresh thread; stopping ends it.
    await pool.stop();
    expect(await queued).toBe('UnitCrashError');
  });

  /** A scripted thread whose jobs end only when the test says. */
  function scriptedThread(log: string[], name: string) {
    const jobs: Array<{ unit: number; onStart: () => void; resolve: (r: ThreadReply) => void; reject: (e: unknown) => void }> = [];
    const thread: UnitThread = {
      run: (job, onStart) =>
        new Promise<ThreadReply>((resolve, reject) => {
          log.push(`${name} got ${job.request.unit}`);
          jobs.push({ unit: job.request.unit, onStart, resolve, reject });
        }),
      terminate: () => void log.push(`${name} killed`),
    };
    return { thread, jobs };
  }

  /** A pool over scripted threads a, b, …, spawned in that order as the pool asks for them. */
  function scriptedPool(log: string[], threads: number, dutyCycle: number) {
    const made = ['a', 'b', 'c'].map((name) => scriptedThread(log, name));
    let spawned = 0;
    return { pool: new UnitPool({ threads, dutyCycle, spawn: () => made[spawned++]!.thread }), threads: made };
  }
  const request = (unit: number) => ({ unit, input: new Uint8Array(0), memory: { minPages: 1, maxPages: 1 }, maxOutputBytes: 8 });
  const module = {} as WebAssembly.Module;
  const ok = (unit: number): ThreadReply => ({ ok: true, output: Uint8Array.of(unit), busyMs: 10 });

  it('hands a thread that never rests its next unit while the current one runs, and no more', async () => {
    const log: string[] = [];
    const { pool, threads } = scriptedPool(log, 1, 1);
    const t = threads[0]!;
    const outcomes = [0, 1, 2].map((u) => pool.run(module, request(u), 1000));
    expect(log).toEqual(['a got 0', 'a got 1']);
    t.jobs[0]!.onStart();
    t.jobs[0]!.resolve(ok(0));
    expect(Array.from((await outcomes[0]!).output)).toEqual([0]);
    expect(log).toEqual(['a got 0', 'a got 1', 'a got 2']);
    for (const i of [1, 2]) {
      t.jobs[i]!.onStart();
      t.jobs[i]!.resolve(ok(i));
    }
    expect((await Promise.all(outcomes)).map((o) => o.output[0])).toEqual([0, 1, 2]);
    await pool.stop();
  });

  it('gives every idle thread a unit before any thread a second', async () => {
    const log: string[] = [];
    const { pool } = scriptedPool(log, 2, 1);
    for (const u of [0, 1, 2]) void pool.run(module, request(u), 1000).catch(() => {});
    expect(log).toEqual(['a got 0', 'b got 1', 'a got 2']);
    await pool.stop();
  });

  it('hands a thread that rests one unit at a time', async () => {
    const log: string[] = [];
    const { pool } = scriptedPool(log, 1, 0.5);
    void pool.run(module, request(0), 1000).catch(() => {});
    void pool.run(module, request(1), 1000).catch(() => {});
    expect(log).toEqual(['a got 0']);
    await pool.stop();
  });

  it('fails only the unit that ran out of time: the one waiting behind it runs on the fresh thread', async () => {
    vi.useFakeTimers();
    const log: string[] = [];
    const { pool, threads } = scriptedPool(log, 1, 1);
    const hung = pool.run(module, request(0), 50).catch((e: Error) => e.name);
    const waiting = pool.run(module, request(1), 50);
    threads[0]!.jobs[0]!.onStart();
    // The waiting unit's clock has not started: it is not charged for the hung one.
    await vi.advanceTimersByTimeAsync(50);
    expect(await hung).toBe('UnitTimeoutError');
    expect(log).toEqual(['a got 0', 'a got 1', 'a killed', 'b got 1']);
    threads[1]!.jobs[0]!.onStart();
    threads[1]!.jobs[0]!.resolve(ok(1));
    expect(Array.from((await waiting).output)).toEqual([1]);
    await pool.stop();
  });

  it('blames a dead thread on the unit it had begun, not on the one waiting behind it', async () => {
    const log: string[] = [];
    const { pool, threads } = scriptedPool(log, 1, 1);
    const crashing = pool.run(module, request(0), 1000).catch((e: Error) => e.name);
    const waiting = pool.run(module, request(1), 1000);
    threads[0]!.jobs[0]!.onStart();
    // A dying thread fails everything it holds, in whatever order.
    threads[0]!.jobs[1]!.reject(new Error('exit 1'));
    threads[0]!.jobs[0]!.reject(new Error('exit 1'));
    expect(await crashing).toBe('UnitCrashError');
    await Promise.resolve();
    expect(log).toEqual(['a got 0', 'a got 1', 'a killed', 'b got 1']);
    threads[1]!.jobs[0]!.onStart();
    threads[1]!.jobs[0]!.resolve(ok(1));
    expect(Array.from((await waiting).output)).toEqual([1]);
    await pool.stop();
  });
});
