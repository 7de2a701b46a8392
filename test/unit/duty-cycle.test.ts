// The pool's duty cycle, with a scripted thread and fake timers: the thread
// stands in for a worker thread because what is under test is the scheduling,
// and real threads would make it a timing test.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { cpuBudget, restAfter } from '../../units/cpu-budget.ts';
import { UnitPool } from '../../units/pool.ts';
import type { UnitThread } from '../../units/pool.ts';
import type { ThreadReply } from '../../units/unit-thread.ts';
import { UsageError } from '../../protocol/errors.ts';

describe('cpu budget', () => {
  it('turns a slider into threads and a duty cycle', () => {
    expect(cpuBudget(1, 2)).toEqual({ threads: 2, dutyCycle: 1 });
    expect(cpuBudget(0.5, 2)).toEqual({ threads: 1, dutyCycle: 1 });
    expect(cpuBudget(0.25, 2)).toEqual({ threads: 1, dutyCycle: 0.5 });
    expect(cpuBudget(0.75, 4)).toEqual({ threads: 3, dutyCycle: 1 });
    expect(cpuBudget(0.1, 1)).toEqual({ threads: 1, dutyCycle: 0.1 });
    expect(() => cpuBudget(0, 2)).toThrow(UsageError);
    expect(() => cpuBudget(1.5, 2)).toThrow(UsageError);
    expect(() => cpuBudget(Number.NaN, 2)).toThrow(UsageError);
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
    const made = ['a', 'b', 'c', 'd'].map((name) => scriptedThread(log, name));
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

  /** Starts and ends a scripted thread's job. */
  const complete = (t: ReturnType<typeof scriptedThread>, index: number) => {
    const job = t.jobs[index]!;
    job.onStart();
    job.resolve(ok(job.unit));
  };
  const outputs = async (outcomes: Array<Promise<{ output: Uint8Array }>>) => (await Promise.all(outcomes)).map((o) => o.output[0]);

  describe('a new budget', () => {
    it('grows: a new thread takes the units waiting in the queue, and the pool says it is larger', async () => {
      const log: string[] = [];
      const { pool, threads } = scriptedPool(log, 1, 1);
      const outcomes = [0, 1, 2, 3].map((u) => pool.run(module, request(u), 1000));
      expect(log).toEqual(['a got 0', 'a got 1']);
      pool.setBudget({ threads: 2, dutyCycle: 1 });
      expect(pool.size).toBe(2);
      expect(pool.budget).toEqual({ threads: 2, dutyCycle: 1 });
      expect(log).toEqual(['a got 0', 'a got 1', 'b got 2', 'b got 3']);
      for (const t of threads.slice(0, 2)) for (const i of [0, 1]) complete(t, i);
      expect(await outputs(outcomes)).toEqual([0, 1, 2, 3]);
      await pool.stop();
    });

    it('shrinks while units run: the retired thread finishes every unit it holds, takes no more, and only then is terminated', async () => {
      const log: string[] = [];
      const { pool, threads } = scriptedPool(log, 2, 1);
      const [a, b] = threads;
      const outcomes = [0, 1, 2, 3, 4].map((u) => pool.run(module, request(u), 1000));
      expect(log).toEqual(['a got 0', 'b got 1', 'a got 2', 'b got 3']);
      b!.jobs[0]!.onStart();
      pool.setBudget({ threads: 1, dutyCycle: 1 });
      expect(pool.size).toBe(1);
      // Both hold two units; the newer thread retires, and nothing is killed yet.
      expect(log).toEqual(['a got 0', 'b got 1', 'a got 2', 'b got 3']);
      b!.jobs[0]!.resolve(ok(1));
      expect(Array.from((await outcomes[1]!).output)).toEqual([1]);
      // The retired thread holds unit 3 still, and unit 4 waits for the thread that stays.
      expect(log).toEqual(['a got 0', 'b got 1', 'a got 2', 'b got 3']);
      complete(a!, 0);
      await outcomes[0];
      expect(log.at(-1)).toBe('a got 4');
      complete(b!, 1);
      await outcomes[3];
      expect(log.at(-1)).toBe('b killed');
      complete(a!, 1);
      complete(a!, 2);
      expect(await outputs(outcomes)).toEqual([0, 1, 2, 3, 4]);
      expect(log.filter((l) => l.startsWith('b'))).toEqual(['b got 1', 'b got 3', 'b killed']);
      expect(log).not.toContain('a killed');
      expect(log).not.toContain('c got 4');
      await pool.stop();
    });

    it('terminates an idle thread at once when it shrinks, leaving the busy one alone', async () => {
      const log: string[] = [];
      const { pool, threads } = scriptedPool(log, 2, 1);
      const outcome = pool.run(module, request(0), 1000);
      pool.setBudget({ threads: 1, dutyCycle: 1 });
      expect(log).toEqual(['a got 0', 'b killed']);
      complete(threads[0]!, 0);
      expect(Array.from((await outcome).output)).toEqual([0]);
      await pool.stop();
    });

    it('a retired thread that dies is not replaced: its unit fails, and the one waiting behind it runs elsewhere', async () => {
      const log: string[] = [];
      const { pool, threads } = scriptedPool(log, 2, 1);
      const [a, b] = threads;
      const outcomes = [0, 1, 2, 3].map((u) => pool.run(module, request(u), 1000).then((o) => o.output[0], (e: Error) => e.name));
      pool.setBudget({ threads: 1, dutyCycle: 1 });
      b!.jobs[0]!.onStart();
      b!.jobs[0]!.reject(new Error('exit 1'));
      b!.jobs[1]!.reject(new Error('exit 1'));
      expect(await outcomes[1]).toBe('UnitCrashError');
      expect(log).toEqual(['a got 0', 'b got 1', 'a got 2', 'b got 3', 'b killed']);
      complete(a!, 0);
      await outcomes[0];
      expect(log.at(-1)).toBe('a got 3');
      complete(a!, 1);
      complete(a!, 2);
      expect(await Promise.all(outcomes)).toEqual([0, 'UnitCrashError', 2, 3]);
      expect(pool.size).toBe(1);
      await pool.stop();
    });

    it('grows again after a shrink: a thread still retiring is taken back before any is spawned', async () => {
      const log: string[] = [];
      const { pool, threads } = scriptedPool(log, 2, 1);
      const [a, b] = threads;
      const first = [0, 1].map((u) => pool.run(module, request(u), 1000));
      pool.setBudget({ threads: 1, dutyCycle: 1 });
      pool.setBudget({ threads: 2, dutyCycle: 1 });
      expect(pool.size).toBe(2);
      const second = [2, 3].map((u) => pool.run(module, request(u), 1000));
      expect(log).toEqual(['a got 0', 'b got 1', 'a got 2', 'b got 3']);
      for (const t of [a!, b!]) for (const i of [0, 1]) complete(t, i);
      expect(await outputs([...first, ...second])).toEqual([0, 1, 2, 3]);
      expect(log.filter((l) => l.includes('killed'))).toEqual([]);

      // Once the retired thread has gone, growing spawns a fresh one.
      pool.setBudget({ threads: 1, dutyCycle: 1 });
      expect(log.at(-1)).toBe('b killed');
      pool.setBudget({ threads: 2, dutyCycle: 1 });
      const third = [4, 5].map((u) => pool.run(module, request(u), 1000));
      expect(log.slice(-2)).toEqual(['a got 4', 'c got 5']);
      complete(a!, 2);
      complete(threads[2]!, 0);
      expect(await outputs(third)).toEqual([4, 5]);
      await pool.stop();
    });

    it('changes the duty cycle: the rest under way is measured again, later rests follow it, and a thread that stops resting holds a second unit', async () => {
      vi.useFakeTimers();
      const log: string[] = [];
      const { pool, threads } = scriptedPool(log, 1, 0.5);
      const a = threads[0]!;
      const outcomes = [0, 1, 2, 3].map((u) => pool.run(module, request(u), 1000));
      expect(log).toEqual(['a got 0']);
      // 10 ms of work at 0.5 would rest 10 ms; at 0.25 the same rest is 30 ms.
      complete(a, 0);
      await outcomes[0];
      pool.setBudget({ threads: 1, dutyCycle: 0.25 });
      await vi.advanceTimersByTimeAsync(29);
      expect(log).toEqual(['a got 0']);
      await vi.advanceTimersByTimeAsync(1);
      expect(log).toEqual(['a got 0', 'a got 1']);
      complete(a, 1);
      await outcomes[1];
      // Raised to 1 during a 30 ms rest: the thread takes its next unit at once, and one more behind it.
      pool.setBudget({ threads: 1, dutyCycle: 1 });
      expect(log).toEqual(['a got 0', 'a got 1', 'a got 2', 'a got 3']);
      complete(a, 2);
      complete(a, 3);
      expect(await outputs(outcomes)).toEqual([0, 1, 2, 3]);
      await pool.stop();
    });

    it('refuses a budget it cannot run, and keeps the one it has', async () => {
      const log: string[] = [];
      const { pool } = scriptedPool(log, 1, 1);
      expect(() => pool.setBudget({ threads: 0, dutyCycle: 1 })).toThrow(UsageError);
      expect(() => pool.setBudget({ threads: 1.5, dutyCycle: 1 })).toThrow(UsageError);
      expect(() => pool.setBudget({ threads: 1, dutyCycle: 0 })).toThrow(UsageError);
      expect(pool.budget).toEqual({ threads: 1, dutyCycle: 1 });
      await pool.stop();
    });
  });
});
