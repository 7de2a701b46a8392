// The mint as the integration tests meet it, beyond the loopback harness's
// in-process mint (testnet/testnet-mint.ts): a real `cycles mint` child
// process to kill and restart, the client's half of blind issuance (blind,
// pay, check the DLEQ proof, unblind), raw HTTP, and the ledger file read from
// outside. Everything started here is torn down by its stop().

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import Database from 'better-sqlite3';
import { afterAll, afterEach, expect } from 'vitest';
import { MintClient } from '../../net/mint-client.ts';
import { toBase64, toHex } from '../../protocol/bytes.ts';
import { MESSAGE_LIMITS } from '../../protocol/constants.ts';
import { blind, scalarFromRandom, unblind, verifyDleq } from '../../protocol/credits/bdhke.ts';
import type { CreditCurve } from '../../protocol/credits/curve.ts';
import type { PublicKeyset } from '../../protocol/credits/keyset.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import {
  encodeMessage,
  signMessage,
  type BlindSignature,
  type Message,
  type MessageOf,
  type Proof,
} from '../../protocol/messages/index.ts';
import { startTestMint, type TestMint, type TestMintOptions } from '../../testnet/testnet-mint.ts';
import { waitFor } from '../../testnet/wait.ts';

export { depositMessage } from '../../testnet/testnet-mint.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

export const newId = (): Uint8Array => nodeCrypto.randomBytes(16);

/** A fresh account: an account at a mint is an ed25519 key in hex, here one nobody holds the seed of. */
export const newAccount = (): string => toHex(Identity.generate(nodeCrypto).publicKey);

/** A fresh directory under the system's temp dir; `rm` removes it. */
export async function tempDir(prefix = 'sc-mint-'): Promise<{ dir: string; rm: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, rm: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Mints for one test file, each in a ledger folder of the test's own (so the
 * file can still be read once the mint has stopped): none may log an error
 * during a test, and all are stopped and removed after the file.
 */
export function testMints(): (options?: Omit<TestMintOptions, 'dir'>) => Promise<TestMint> {
  const running: { m: TestMint; rm: () => Promise<void> }[] = [];
  afterEach(() => {
    for (const { m } of running) expect(m.lines.filter((l) => l.level === 'error')).toEqual([]);
  });
  afterAll(async () => {
    for (const { m, rm } of running.splice(0)) {
      await m.stop();
      await rm();
    }
  });
  return async (options = {}) => {
    const { dir, rm } = await tempDir();
    const m = await startTestMint({ ...options, dir }).catch(async (error) => {
      await rm();
      throw error;
    });
    running.push({ m, rm });
    return m;
  };
}

// ---- The client's side of issuance ------------------------------------------------------------

/** A blinded output before the mint signs it: the secret x and blinding r stay with the worker. */
export interface Pending {
  amount: number;
  x: Uint8Array;
  r: Uint8Array;
  Y: Uint8Array;
  B: Uint8Array;
}

/** A credit, with everything the worker saw on its way: B and the blind signature C′ included. */
export interface TestCredit extends Pending {
  /** C′ = k·B, as the mint sent it. */
  Cblind: Uint8Array;
  /** C = C′ − r·K = k·Y. */
  C: Uint8Array;
}

export function proofOf(c: TestCredit): Proof {
  return { amount: c.amount, x: c.x, C: c.C };
}

export function blindOutputs(curve: CreditCurve, amounts: readonly number[]): Pending[] {
  return amounts.map((amount) => {
    const x = nodeCrypto.randomBytes(32);
    const r = scalarFromRandom(nodeCrypto.randomBytes(64));
    return { amount, x, r, ...blind(curve, x, r) };
  });
}

/** Checks each DLEQ proof against the published key, then unblinds. Throws on a bad proof. */
export function unblindAll(curve: CreditCurve, keyset: PublicKeyset, pending: readonly Pending[], signatures: readonly BlindSignature[]): TestCredit[] {
  if (signatures.length !== pending.length) throw new Error(`expected ${pending.length} signatures, got ${signatures.length}`);
  return pending.map((p, i) => {
    const sig = signatures[i]!;
    const K = keyset.keys.get(p.amount);
    if (!K || sig.amount !== p.amount) throw new Error(`signature ${i}: amount ${sig.amount}, expected ${p.amount}`);
    if (!verifyDleq(curve, K, p.B, sig.C, sig)) throw new Error(`signature ${i}: the DLEQ proof does not verify`);
    return { ...p, Cblind: sig.C, C: unblind(curve, sig.C, p.r, K) };
  });
}

export function paymentMessage(tasker: Identity, keyset: Uint8Array, outputs: readonly Pending[], id = newId()): MessageOf<'payment'> {
  return signMessage(nodeCrypto, tasker.exportSeed(), {
    t: 'payment',
    v: 1,
    id,
    keyset,
    outputs: outputs.map((o) => ({ amount: o.amount, B: o.B })),
    tasker: tasker.publicKey,
    ts: Date.now(),
  });
}

/** A redeem of `credits`: to an account (a string) or for fresh outputs (a swap). */
export function redeemMessage(keyset: Uint8Array, credits: readonly TestCredit[], to: string | readonly Pending[], id = newId()): MessageOf<'redeem'> {
  const base = { t: 'redeem' as const, v: 1 as const, id, keyset, proofs: credits.map(proofOf) };
  return typeof to === 'string' ? { ...base, to } : { ...base, outputs: to.map((o) => ({ amount: o.amount, B: o.B })) };
}

/** What went over the wire for one payment, for the tests that look for it in the mint's data. */
export interface Issuance {
  message: MessageOf<'payment'>;
  id: Uint8Array;
  /** SHA-256 of the message bytes, as the mint's requests table keys it. */
  digest: Uint8Array;
  credits: TestCredit[];
}

/**
 * A tasker pays the mint for credits of `amounts`, at most 64 outputs a
 * payment; each payment's proofs are checked and its credits unblinded.
 */
export async function issue(
  client: MintClient,
  curve: CreditCurve,
  tasker: Identity,
  keyset: PublicKeyset,
  amounts: readonly number[],
): Promise<{ credits: TestCredit[]; issuances: Issuance[] }> {
  const issuances: Issuance[] = [];
  for (let i = 0; i < amounts.length; i += MESSAGE_LIMITS.outputs) {
    const pending = blindOutputs(curve, amounts.slice(i, i + MESSAGE_LIMITS.outputs));
    const msg = paymentMessage(tasker, keyset.id, pending);
    const ok = await client.pay(msg);
    issuances.push({ message: msg, id: msg.id, digest: sha256(encodeMessage(msg)), credits: unblindAll(curve, keyset, pending, ok.signatures) });
  }
  return { credits: issuances.flatMap((i) => i.credits), issuances };
}

// ---- Raw HTTP ------------------------------------------------------------------------------

export interface RawAnswer {
  status: number;
  /** The body exactly as sent. */
  text: string;
  json: unknown;
}

/** The `{ message }` body of a request, as every client sends it. */
export function bodyOf(msg: Message): string {
  return JSON.stringify({ message: toBase64(encodeMessage(msg)) });
}

// At most this many connections at once, well under the listen backlog (511
// by default): a burst of a thousand connects would overflow it, and the
// dropped SYNs would come back only after the kernel's retransmit delays.
// Requests beyond it wait in the agent's queue, in flight as far as the test
// is concerned. No keep-alive, so no request ever meets a socket the server
// is closing.
const agent = new http.Agent({ keepAlive: false, maxSockets: 256 });

/** One POST (or GET without a body); the answer kept as sent and parsed. */
export function post(url: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url + path,
      {
        agent,
        method: body === undefined ? 'GET' : 'POST',
        headers:
          body === undefined
            ? headers
            : // A transfer-encoding of the caller's sends the body without declaring its length.
              { 'content-type': 'application/json', ...(headers['transfer-encoding'] ? {} : { 'content-length': String(Buffer.byteLength(body)) }), ...headers },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode!, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer in 30 s`)));
    req.on('error', reject);
    if (body !== undefined && headers['transfer-encoding']) {
      // Several chunks, as a streaming client would send them.
      const bytes = Buffer.from(body);
      for (let i = 0; i < bytes.length; i += 16 * 1024) req.write(bytes.subarray(i, i + 16 * 1024));
      req.end();
    } else req.end(body);
  });
}

export function errorOf(answer: RawAnswer): { code: string; message: string; field?: string } | undefined {
  return (answer.json as { error?: { code: string; message: string; field?: string } } | undefined)?.error;
}

// ---- `cycles mint` as a child process --------------------------------------------------------

export interface MintProcess {
  url: string;
  child: ChildProcess;
  /** Everything it wrote on stderr so far (its JSON log lines). */
  stderr(): string;
  /** Resolves with [exit code, signal] when it exits. */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** SIGTERM, a bounded wait for a clean exit (SIGKILL after it); resolves with how it exited. */
  stop(): Promise<[number | null, NodeJS.Signals | null]>;
}

/**
 * Starts `node bin/cycles.mjs mint --db F --port 0` and reads its URL from its
 * first stdout line. Without `admin`, it takes deposits signed by its own
 * admin key, which it keeps beside its ledger (`<db>-admin.key`).
 */
export async function spawnMint(options: { db: string; admin?: Uint8Array; home: string }): Promise<MintProcess> {
  const admin = options.admin ? ['--admin', toHex(options.admin)] : [];
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin/cycles.mjs'), 'mint', '--db', options.db, '--port', '0', '--host', '127.0.0.1', ...admin],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SPARECYCLES_HOME: options.home } },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const running = () => child.exitCode === null && child.signalCode === null;
  try {
    await waitFor('the mint URL on stdout', () => stdout.includes('\n') || !running(), 30_000, 20);
    if (!stdout.includes('\n')) throw new Error(`cycles mint exited before printing its URL: ${stderr.slice(-2000)}`);
  } catch (error) {
    if (running()) child.kill('SIGKILL');
    throw error;
  }
  const url = stdout.split('\n')[0]!.trim();
  return {
    url,
    child,
    stderr: () => stderr,
    exited,
    async stop() {
      if (!running()) return [child.exitCode, child.signalCode];
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

// ---- The ledger file, read from outside ------------------------------------------------------

export interface TableDump {
  columns: string[];
  /** Every row, every column: text as is, numbers in decimal, blobs in hex. */
  rows: string[][];
}

/** Every table of an SQLite file (sqlite_sequence included), read-only. */
export function dumpDatabase(path: string): Record<string, TableDump> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
    const out: Record<string, TableDump> = {};
    for (const { name } of tables) {
      const columns = db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${name}')`).all().map((c) => c.name);
      const rows = (db.prepare(`SELECT * FROM "${name}"`).raw().all() as unknown[][]).map((row) =>
        row.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v === null ? 'NULL' : String(v))),
      );
      out[name] = { columns, rows };
    }
    return out;
  } finally {
    db.close();
  }
}

/** One text of a dump: `table | column=value | …` a row a line. */
export function dumpText(dump: Record<string, TableDump>): string {
  return Object.entries(dump)
    .flatMap(([name, t]) => [`# ${name} (${t.columns.join(', ')})`, ...t.rows.map((r) => `${name} | ${r.map((v, i) => `${t.columns[i]}=${v}`).join(' | ')}`)])
    .join('\n');
}

/** The tables a refused request must leave as they were (the audit table is expected to grow). */
export function ledgerSnapshot(path: string): string {
  const dump = dumpDatabase(path);
  return dumpText(Object.fromEntries(['meta', 'keysets', 'accounts', 'spent', 'totals', 'requests'].map((t) => [t, dump[t]!])));
}
