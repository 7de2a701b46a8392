// `cycles mint` killed with SIGKILL in the middle of a redemption storm, then
// started again on the same ledger file. Whatever was acknowledged is kept,
// every request retried with the same bytes gets the same answer it got (or
// would have got) before, and no credit is spent twice. The ledger file is
// then read from outside, with no mint running.

import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { MintClient } from '../../net/mint-client.ts';
import { Ledger } from '../../mint/ledger.ts';
import { loadSodiumCurve } from '../../mint/sodium-curve.ts';
import type { LogLine } from '../../serve/log.ts';
import { fromBase64, fromHex, toHex } from '../../protocol/bytes.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { decodeMessage } from '../../protocol/messages/index.ts';
import {
  bodyOf,
  depositMessage,
  errorOf,
  issue,
  newAccount,
  post,
  redeemMessage,
  spawnMint,
  tempDir,
  type MintProcess,
  type TestCredit,
} from '../support/mint.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

interface Request {
  id: Uint8Array;
  credits: TestCredit[];
  to: string;
  body: string;
  /** The answer before the crash, if one came back. */
  before?: { status: number; text: string };
}

/** Sends each request once over `lanes` concurrent lanes; stops taking new ones once `stop()` says so. */
async function storm(url: string, requests: Request[], lanes: number, onAnswer: (r: Request, status: number, text: string) => void, stop: () => boolean) {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < requests.length && !stop()) {
        const r = requests[next++]!;
        try {
          const a = await post(url, '/v1/redeem', r.body);
          onAnswer(r, a.status, a.text);
        } catch {
          // The mint is gone: this request has no answer.
          return;
        }
      }
    }),
  );
}

function logLines(p: MintProcess): LogLine[] {
  // A process killed mid-write may leave a partial last line.
  return p
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{') && l.endsWith('}'))
    .map((l) => JSON.parse(l) as LogLine);
}

describe('cycles mint killed mid-storm', () => {
  it('keeps what it acknowledged, answers every retry the same, and spends each credit once', async () => {
    const curve = await loadSodiumCurve();
    const { dir, rm } = await tempDir('sc-mint-crash-');
    cleanups.push(rm);
    const db = join(dir, 'ledger.db');
    const admin = Identity.generate(nodeCrypto);
    const tasker = Identity.generate(nodeCrypto);

    const first = await spawnMint({ db, admin: admin.publicKey, home: dir });
    cleanups.push(() => first.stop());
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const client = new MintClient(first.url, { timeoutMs: 30_000 });
    const keyset = await client.activeKeyset(curve);

    // 320 credits of 1 to 16; the storm spends 300 of them, 20 stay in the wallet.
    const amounts = Array.from({ length: 320 }, (_, i) => 2 ** (i % 5));
    const issuedTotal = amounts.reduce((a, b) => a + b, 0);
    await client.deposit(depositMessage(admin, fromHex((await client.info()).mint), toHex(tasker.publicKey), issuedTotal + 100));
    const { credits, issuances } = await issue(client, curve, tasker, keyset, amounts);
    const kept = credits.slice(300);

    // 260 requests of one credit, 20 of two, all to alice; and 30 to mallory that
    // name a credit of a one-credit alice request, under an id of their own.
    const alice = newAccount();
    const mallory = newAccount();
    const make = (cs: TestCredit[], to: string): Request => {
      const msg = redeemMessage(keyset.id, cs, to);
      return { id: msg.id, credits: cs, to, body: bodyOf(msg) };
    };
    const requests: Request[] = [
      ...credits.slice(0, 260).map((c) => make([c], alice)),
      ...Array.from({ length: 20 }, (_, i) => make([credits[260 + 2 * i]!, credits[261 + 2 * i]!], alice)),
      ...Array.from({ length: 30 }, (_, i) => make([credits[i * 8]!], mallory)),
    ];
    // Shuffled, so the rivals race each other.
    for (let i = requests.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [requests[i], requests[j]] = [requests[j]!, requests[i]!];
    }

    // The storm: 32 at a time, and SIGKILL once a third of the requests got a 200.
    let acknowledged = 0;
    await storm(
      first.url,
      requests,
      32,
      (r, status, text) => {
        r.before = { status, text };
        if (status === 200 && ++acknowledged === Math.ceil(requests.length / 3)) first.child.kill('SIGKILL');
      },
      () => first.child.killed,
    );
    expect(await first.exited).toEqual([null, 'SIGKILL']);
    const answered = requests.filter((r) => r.before);
    const unanswered = requests.filter((r) => !r.before);
    expect(answered.filter((r) => r.before!.status === 200).length).toBeGreaterThanOrEqual(Math.ceil(requests.length / 3));
    // It died mid-storm: many requests never got an answer.
    expect(unanswered.length).toBeGreaterThan(requests.length / 3);
    for (const r of answered) expect([200, 409]).toContain(r.before!.status);
    expect(logLines(first).filter((l) => l.level === 'error')).toEqual([]);

    // Started again on the same file, on a new port.
    const second = await spawnMint({ db, admin: admin.publicKey, home: dir });
    cleanups.push(() => second.stop());
    const again = new MintClient(second.url, { timeoutMs: 30_000 });
    expect((await again.activeKeyset(curve)).id).toEqual(keyset.id);

    // Every acknowledged redemption's credits are spent.
    const acked = answered.filter((r) => r.before!.status === 200);
    const ackedYs = acked.flatMap((r) => r.credits.map((c) => c.Y));
    expect(await again.state(ackedYs)).toEqual(ackedYs.map(() => 'spent'));

    // Every request retried with the same bytes, twice over.
    const retried = new Map<Request, { status: number; text: string }>();
    await storm(second.url, requests, 32, (r, status, text) => retried.set(r, { status, text }), () => false);
    const twice = new Map<Request, { status: number; text: string }>();
    await storm(second.url, requests, 32, (r, status, text) => twice.set(r, { status, text }), () => false);
    expect(retried.size).toBe(requests.length);
    for (const r of requests) {
      const now = retried.get(r)!;
      // An answer given before the crash is given again, byte for byte, refusals included.
      if (r.before) expect(now).toEqual(r.before);
      expect(twice.get(r)).toEqual(now);
      if (now.status === 200) {
        const ok = decodeMessage(fromBase64((JSON.parse(now.text) as { message: string }).message));
        expect(ok).toMatchObject({ t: 'redeem-ok', id: r.id, to: r.to, amount: r.credits.reduce((a, c) => a + c.amount, 0) });
      } else {
        expect(now.status).toBe(409);
        expect(errorOf({ ...now, json: JSON.parse(now.text) })).toMatchObject({ code: 'ALREADY_SPENT' });
      }
    }
    // Each storm credit was spent by exactly one request, and of each rival pair exactly one lost.
    const winners = new Map<string, Request[]>();
    for (const r of requests) {
      if (retried.get(r)!.status !== 200) continue;
      for (const c of r.credits) winners.set(toHex(c.Y), [...(winners.get(toHex(c.Y)) ?? []), r]);
    }
    const stormCredits = credits.slice(0, 300);
    for (const c of stormCredits) expect(winners.get(toHex(c.Y)), `credit ${toHex(c.Y)}`).toHaveLength(1);
    expect(winners.size).toBe(300);
    const rivals = requests.filter((r) => r.to === mallory);
    const lost = requests.filter((r) => retried.get(r)!.status === 409);
    expect(lost).toHaveLength(rivals.length);
    for (const r of lost) {
      // The loser is one of a pair; its rival won.
      const Y = toHex(r.credits[0]!.Y);
      expect(winners.get(Y)![0]).not.toBe(r);
    }

    // Balances: each account got exactly the credits its winning requests spent.
    const wonBy = (to: string) =>
      requests.filter((r) => r.to === to && retried.get(r)!.status === 200).reduce((a, r) => a + r.credits.reduce((b, c) => b + c.amount, 0), 0);
    const stormTotal = stormCredits.reduce((a, c) => a + c.amount, 0);
    expect(wonBy(alice) + wonBy(mallory)).toBe(stormTotal);
    expect((await again.balance(alice)) ?? 0).toBe(wonBy(alice));
    expect((await again.balance(mallory)) ?? 0).toBe(wonBy(mallory));
    expect(await again.balance(toHex(tasker.publicKey))).toBe(100);
    expect(await again.state(kept.map((c) => c.Y))).toEqual(kept.map(() => 'unspent'));

    // A payment retried after the restart: the same blind signatures, debited once.
    const paid = await again.pay(issuances[0]!.message);
    expect(paid.signatures.map((s) => toHex(s.C))).toEqual(issuances[0]!.credits.map((c) => toHex(c.Cblind)));
    expect(await again.balance(toHex(tasker.publicKey))).toBe(100);

    expect(await second.stop()).toEqual([0, null]);
    expect(logLines(second).filter((l) => l.level === 'error')).toEqual([]);
    expect(logLines(second).map((l) => l.event)).toEqual(expect.arrayContaining(['mint.started', 'signal']));

    // The file, from outside: read-only, no mint running.
    const file = new Database(db, { readonly: true, fileMustExist: true });
    try {
      expect(file.pragma('integrity_check', { simple: true })).toBe('ok');
      const totals = Object.fromEntries(
        file.prepare<[], { name: string; value: number }>('SELECT name, value FROM totals').all().map((t) => [t.name, t.value]),
      );
      const balances = file.prepare<[], { n: number }>('SELECT SUM(balance) AS n FROM accounts').get()!.n;
      const spentRows = file.prepare<[], { n: number; rows: number }>('SELECT SUM(amount) AS n, COUNT(*) AS rows FROM spent').get()!;
      expect(totals).toEqual({ deposited: issuedTotal + 100, issued: issuedTotal, spent: stormTotal });
      // deposits = balances + outstanding (issued − spent)
      expect(totals.deposited).toBe(balances + (totals.issued! - totals.spent!));
      expect(spentRows).toEqual({ n: totals.spent, rows: 300 });
      const ys = file.prepare<[], { y: Buffer }>('SELECT y FROM spent').all().map((r) => toHex(r.y));
      expect(new Set(ys)).toEqual(new Set(stormCredits.map((c) => toHex(c.Y))));
      // Each winning request is recorded once; no losing one is.
      const recorded = new Set(file.prepare<[], { id: Buffer }>("SELECT id FROM requests WHERE kind = 'redeem'").all().map((r) => toHex(r.id)));
      expect(recorded).toEqual(new Set(requests.filter((r) => retried.get(r)!.status === 200).map((r) => toHex(r.id))));
    } finally {
      file.close();
    }
    const ledger = new Ledger(db);
    try {
      expect(ledger.checkInvariants()).toEqual([]);
    } finally {
      await ledger.close();
    }
  });
});
