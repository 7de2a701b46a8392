// mint_redeems_per_s and mint_p99_ms: single-credit redeems over HTTP at
// concurrency 32 against `cycles mint` in its own process, with durable
// commits (the WAL is synced before any answer: the mint has no other mode). The credits are
// issued first through the same API, as a tasker would pay for them.
//
// Measured in the same run, for scale on a noisy machine:
// mint_http_ceiling_per_s, the rate of the cheapest request the mint answers
// (a one-Y state query) over the same connections — no redeem can go faster
// than that — the credits/s of 64-credit redeems, and the mint's own CPU time
// per redeem over all its threads (from /proc), which says what this machine
// could sustain if the load client were not competing for its cores.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MintClient } from '../net/mint-client.ts';
import { loadSodiumCurve } from '../mint/sodium-curve.ts';
import { fromHex, toBase64, toHex } from '../protocol/bytes.ts';
import { blind, scalarFromRandom, unblind } from '../protocol/credits/bdhke.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { NetworkError, SpareCyclesError, TimeoutError } from '../protocol/errors.ts';
import { encodeMessage, signMessage, type Proof } from '../protocol/messages/index.ts';
import type { Figure } from './results-file.ts';

const CONCURRENCY = 32;
const SINGLE = 63 * 64;
const BATCHED = 64 * 64;
// The timed redeems run in the middle of one continuous load: the first
// thousand requests through a fresh process pay for V8 compiling the redeem
// path, which a running mint has long done, and all 32 connections sending at
// once is a start no running mint sees; the untimed tail keeps 32 in flight
// until the last timed answer.
const WARM = 16 * 64;
const TAIL = 4 * CONCURRENCY;
const ISSUED = WARM + SINGLE + TAIL + BATCHED;

async function startMint(db: string, admin: Uint8Array): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['bin/cycles.mjs', 'mint', '--db', db, '--port', '0', '--admin', toHex(admin), '--work-per-minute', '1000000000'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError('expected cycles mint to print its URL within 30 s, got nothing')), 30_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line.trim());
    });
    child.once('exit', (code) => reject(new SpareCyclesError('INTERNAL', `cycles mint exited with ${code}`)));
  });
  return { child, url };
}

/** The part of a load that is timed: requests [from, to) by the order they are sent. */
interface Window {
  from: number;
  to: number;
  /** Called as the first timed request goes out and as the last timed answer comes in. */
  onStart?: () => void;
  onEnd?: () => void;
}

/**
 * Posts every body at a fixed concurrency over kept-alive connections; returns
 * the timed window's latencies and rate. The client writes requests and reads
 * status lines and Content-Length itself, as wrk and autocannon do:
 * node:http's client cost about 0.3 ms of CPU per request, taken from the
 * same two cores as the mint.
 */
async function load(
  url: string,
  path: string,
  bodies: string[],
  window: Window = { from: 0, to: bodies.length },
): Promise<{ perS: number; latencies: number[]; failed: number }> {
  const { hostname, port } = new URL(url);
  const head = (body: string) =>
    `POST ${path} HTTP/1.1\r\nhost: ${hostname}:${port}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const latencies: number[] = [];
  let next = 0;
  let failed = 0;
  let answered = 0;
  let started = 0;
  let ended = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, () =>
      new Promise<void>((resolve, reject) => {
        const socket = net.connect(Number(port), hostname);
        socket.setNoDelay(true);
        let buffered: Buffer = Buffer.alloc(0);
        let sentAt = 0;
        let index = 0;
        const send = () => {
          if (next >= bodies.length) {
            socket.end();
            return resolve();
          }
          sentAt = performance.now();
          index = next++;
          if (index === window.from) {
            started = sentAt;
            window.onStart?.();
          }
          socket.write(head(bodies[index]!));
        };
        socket.on('connect', send);
        socket.on('error', reject);
        socket.on('data', (chunk: Buffer) => {
          buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
          const end = buffered.indexOf('\r\n\r\n');
          if (end < 0) return;
          const header = buffered.subarray(0, end).toString('latin1');
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(header)?.[1] ?? NaN);
          if (!Number.isFinite(length)) return reject(new NetworkError(`mint bench: expected a content-length, got a response without one: ${header}`));
          if (buffered.length < end + 4 + length) return;
          buffered = buffered.subarray(end + 4 + length);
          if (header.slice(9, 12) !== '200') failed++;
          if (index >= window.from && index < window.to) {
            latencies.push(performance.now() - sentAt);
            if (++answered === window.to - window.from) {
              ended = performance.now();
              window.onEnd?.();
            }
          }
          send();
        });
      }),
    ),
  );
  const perS = (window.to - window.from) / ((ended - started) / 1000);
  return { perS, latencies: latencies.sort((a, b) => a - b), failed };
}

/** CPU time a process has used, from /proc (Linux), in milliseconds; undefined elsewhere. */
async function cpuMsOf(pid: number | undefined): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
const round1 = (n: number) => Math.round(n * 10) / 10;

export async function benchMint(): Promise<Record<string, Figure>> {
  const curve = await loadSodiumCurve();
  const dir = await mkdtemp(join(tmpdir(), 'sc-bench-mint-'));
  const admin = Identity.generate(nodeCrypto);
  const tasker = Identity.generate(nodeCrypto);
  // Where the redeems go: an account is a key.
  const sink = toHex(Identity.generate(nodeCrypto).publicKey);
  const { child, url } = await startMint(join(dir, 'ledger.db'), admin.publicKey);
  try {
    const client = new MintClient(url);
    const id = () => nodeCrypto.randomBytes(16);
    await client.deposit(
      signMessage(nodeCrypto, admin.exportSeed(), {
        t: 'deposit', v: 2, id: id(), mint: fromHex((await client.info()).mint), account: toHex(tasker.publicKey), amount: ISSUED,
        admin: admin.publicKey, ts: Date.now(),
      }),
    );
    const keyset = await client.activeKeyset(curve);
    const K = keyset.keys.get(1)!;
    const credits: Proof[] = [];
    while (credits.length < ISSUED) {
      const batch = Array.from({ length: 64 }, () => {
        const x = nodeCrypto.randomBytes(32);
        const r = scalarFromRandom(nodeCrypto.randomBytes(64));
        return { x, r, ...blind(curve, x, r) };
      });
      const ok = await client.pay(
        signMessage(nodeCrypto, tasker.exportSeed(), {
          t: 'payment', v: 1, id: id(), keyset: keyset.id, outputs: batch.map((b) => ({ amount: 1, B: b.B })), tasker: tasker.publicKey, ts: Date.now(),
        }),
      );
      ok.signatures.forEach((s, i) => credits.push({ amount: 1, x: batch[i]!.x, C: unblind(curve, s.C, batch[i]!.r, K) }));
    }
    const body = (proofs: Proof[]) =>
      JSON.stringify({ message: toBase64(encodeMessage({ t: 'redeem', v: 1, id: id(), keyset: keyset.id, proofs, to: sink })) });
    const singles = credits.slice(0, WARM + SINGLE + TAIL).map((p) => body([p]));
    const batched = Array.from({ length: BATCHED / 64 }, (_, i) => body(credits.slice(singles.length + i * 64, singles.length + (i + 1) * 64)));
    const states = Array.from({ length: 3000 }, () => JSON.stringify({ Ys: [toHex(nodeCrypto.randomBytes(32))] }));

    await load(url, '/v1/state', states.slice(0, 300)); // warm-up
    const ceiling = await load(url, '/v1/state', states);
    let cpuBefore: Promise<number | undefined> = Promise.resolve(undefined);
    let cpuAfter: Promise<number | undefined> = Promise.resolve(undefined);
    let clientBefore = process.cpuUsage();
    let clientCpu = process.cpuUsage(clientBefore);
    const redeems = await load(url, '/v1/redeem', singles, {
      from: WARM,
      to: WARM + SINGLE,
      onStart: () => {
        cpuBefore = cpuMsOf(child.pid);
        clientBefore = process.cpuUsage();
      },
      onEnd: () => {
        cpuAfter = cpuMsOf(child.pid);
        clientCpu = process.cpuUsage(clientBefore);
      },
    });
    const [mintBefore, mintAfter] = await Promise.all([cpuBefore, cpuAfter]);
    const mintCpuMs = mintBefore === undefined || mintAfter === undefined ? undefined : (mintAfter - mintBefore) / SINGLE;
    const clientCpuMs = (clientCpu.user + clientCpu.system) / 1000 / SINGLE;
    const big = await load(url, '/v1/redeem', batched);
    const balance = await client.balance(sink);
    if (redeems.failed || big.failed || balance !== ISSUED) {
      throw new SpareCyclesError('INTERNAL', `mint bench: ${redeems.failed + big.failed} redeems failed; the account holds ${balance}`);
    }
    const perS = Math.round(redeems.perS);
    const p99 = round1(quantile(redeems.latencies, 0.99));
    const notes = `${SINGLE} one-credit redeems timed at concurrency ${CONCURRENCY} inside one continuous load, after ${WARM} untimed ones and before ${TAIL} more, cycles mint in its own process, every answer after its WAL sync; a raw keep-alive HTTP/1.1 load client`;
    return {
      mint_redeems_per_s: {
        value: perS,
        unit: 'redeems/s',
        target: '>= 2000',
        pass: perS >= 2000,
        mint_http_ceiling_per_s: Math.round(ceiling.perS),
        ratio_to_http_ceiling: Math.round((redeems.perS / ceiling.perS) * 100) / 100,
        batched_credits_per_s: Math.round(big.perS * 64),
        mint_cpu_ms_per_redeem: mintCpuMs === undefined ? null : Math.round(mintCpuMs * 1000) / 1000,
        // What the mint's CPU time allows on this machine's cores with the load client elsewhere.
        capacity_alone_per_s: mintCpuMs ? Math.round((availableParallelism() * 1000) / mintCpuMs) : null,
        client_cpu_ms_per_redeem: Math.round(clientCpuMs * 1000) / 1000,
        curve: curve.name,
        notes: `${notes}; the load client shares the machine's cores with the mint`,
      },
      mint_p99_ms: {
        value: p99,
        unit: 'ms',
        target: '< 20',
        pass: p99 < 20,
        p50_ms: round1(quantile(redeems.latencies, 0.5)),
        notes,
      },
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}
