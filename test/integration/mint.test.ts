// The mint over real HTTP on 127.0.0.1 with a real SQLite ledger: no mocks.
//
// - Double spends: a thousand concurrent redeems of one credit, fifty copies
//   of one request, swaps racing redeems. One spend per credit, whatever the
//   interleaving, and a retried request gets the same answer.
// - Unlinkability: everything the mint keeps (every table, every row, every
//   column) and everything it logs, searched for what would tie a credit's
//   issuance to its redemption.
// - Bad input: each refused with its typed code and status, the ledger left
//   exactly as it was, an audit line where the mint saw the request.
//
// Any log line at level 'error' fails the run.

import { existsSync, readFileSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { STATUS_OF } from '../../protocol/mint-api.ts';
import { encode } from '../../protocol/bencode.ts';
import { fromBase64, fromHex, toBase64, toHex, utf8 } from '../../protocol/bytes.ts';
import { DOMAINS, MESSAGE_LIMITS } from '../../protocol/constants.ts';
import { hashToCurve } from '../../protocol/credits/bdhke.ts';
import { DENOMINATIONS, deriveKeyset } from '../../protocol/credits/keyset.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { fromErrorRecord, MintError, SpareCyclesError, type ErrorRecord } from '../../protocol/errors.ts';
import { decodeMessage, encodeMessage, messageSigningBytes, signMessage, type MessageOf } from '../../protocol/messages/index.ts';
import vectors from '../vectors/credits.json' with { type: 'json' };
import {
  blindOutputs,
  bodyOf,
  depositMessage,
  dumpDatabase,
  dumpText,
  errorOf,
  issue,
  ledgerSnapshot,
  newAccount,
  newId,
  post,
  type RawAnswer,
  redeemMessage,
  type TestCredit,
  testMints,
  unblindAll,
} from '../support/mint.ts';
import type { TestMint } from '../../testnet/testnet-mint.ts';

const mintForTests = testMints();

const redeemOk = (a: RawAnswer): MessageOf<'redeem-ok'> => {
  const msg = decodeMessage(fromBase64((a.json as { message: string }).message));
  if (msg.t !== 'redeem-ok') throw new Error(`expected redeem-ok, got ${msg.t}`);
  return msg;
};

const balanceOf = async (m: TestMint, account: string) => (await m.client.balance(account)) ?? 0;

/** Refusals the ledger counted of this kind and code. */
const refusedCount = (m: TestMint, kind: string, code: string) =>
  m.mint.ledger.refusals().find((r) => r.kind === kind && r.outcome === code)?.n ?? 0;

/** Requests recorded in the requests table under these ids. */
function recorded(m: TestMint, ids: readonly Uint8Array[]): number {
  const q = m.mint.ledger.db.prepare<[Uint8Array], { n: number }>('SELECT COUNT(*) AS n FROM requests WHERE id = ?');
  return ids.reduce((n, id) => n + q.get(id)!.n, 0);
}

// ---- Double spends ------------------------------------------------------------------------------

describe('double spends over HTTP', () => {
  let m: TestMint;
  const tasker = Identity.generate(nodeCrypto);

  beforeAll(async () => {
    m = await mintForTests();
    await m.fund(toHex(tasker.publicKey), 10_000);
  });

  it('1,000 concurrent redeems of one credit: exactly one wins, 999 are ALREADY_SPENT', async () => {
    const [credit] = (await issue(m.client, m.curve, tasker, m.keyset, [8])).credits;
    const before = m.mint.ledger.totals();
    const refusedBefore = refusedCount(m, 'redeem', 'ALREADY_SPENT');
    const account = newAccount();
    const messages = Array.from({ length: 1000 }, () => redeemMessage(m.keyset.id, [credit!], account));
    const answers = await Promise.all(messages.map((msg) => post(m.url, '/v1/redeem', bodyOf(msg))));

    const won = answers.flatMap((a, i) => (a.status === 200 ? [i] : []));
    expect(won).toHaveLength(1);
    const ok = redeemOk(answers[won[0]!]!);
    expect(ok).toMatchObject({ amount: 8, to: account });
    expect(toHex(ok.id)).toBe(toHex(messages[won[0]!]!.id));
    const refused = answers.filter((a) => a.status !== 200);
    expect(refused).toHaveLength(999);
    for (const a of refused) {
      expect(a.status).toBe(409);
      expect(errorOf(a)).toMatchObject({ code: 'ALREADY_SPENT', field: 'proofs[0]' });
    }

    expect(await balanceOf(m, account)).toBe(8);
    expect(await m.client.state([credit!.Y])).toEqual(['spent']);
    const after = m.mint.ledger.totals();
    expect(after.spent - before.spent).toBe(8);
    expect(after.issued).toBe(before.issued);
    expect(m.mint.ledger.checkInvariants()).toEqual([]);
    // Only the winner's request was recorded, with one audit line; each loser was counted and left nothing else.
    expect(recorded(m, messages.map((msg) => msg.id))).toBe(1);
    const audit = m.mint.ledger.db
      .prepare<[string], { outcome: string; n: number }>('SELECT outcome, COUNT(*) AS n FROM audit WHERE account = ? GROUP BY outcome ORDER BY outcome')
      .all(account);
    expect(audit).toEqual([{ outcome: 'ok', n: 1 }]);
    expect(refusedCount(m, 'redeem', 'ALREADY_SPENT') - refusedBefore).toBe(999);
  });

  it('the same request sent 50 times at once gets one identical answer and spends once', async () => {
    const [credit] = (await issue(m.client, m.curve, tasker, m.keyset, [4])).credits;
    const before = m.mint.ledger.totals();
    const account = newAccount();
    const msg = redeemMessage(m.keyset.id, [credit!], account);
    const body = bodyOf(msg);
    const answers = await Promise.all(Array.from({ length: 50 }, () => post(m.url, '/v1/redeem', body)));

    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(redeemOk(answers[0]!)).toMatchObject({ amount: 4, to: account });
    expect(await balanceOf(m, account)).toBe(4);
    expect(m.mint.ledger.totals().spent - before.spent).toBe(4);
    expect(m.mint.ledger.checkInvariants()).toEqual([]);
    expect(recorded(m, [msg.id])).toBe(1);

    // The same request later, once more, still gets the same bytes.
    const again = await post(m.url, '/v1/redeem', body);
    expect([again.status, again.text]).toEqual([200, answers[0]!.text]);
    expect(await balanceOf(m, account)).toBe(4);
  });

  it('a swap racing a redeem of the same credit: exactly one wins, every time', async () => {
    const amounts = [1, 2, 4, 8, 16, 1, 2, 4, 8, 16, 1, 2, 4, 8, 16, 1, 2, 4, 8, 16];
    const { credits } = await issue(m.client, m.curve, tasker, m.keyset, amounts);
    const before = m.mint.ledger.totals();
    const account = newAccount();
    const races = credits.map((c, i) => {
      // A swap of a credit into two of half its value (or one of 1).
      const fresh = blindOutputs(m.curve, c.amount === 1 ? [1] : [c.amount / 2, c.amount / 2]);
      const swap = redeemMessage(m.keyset.id, [c], fresh);
      const redeem = redeemMessage(m.keyset.id, [c], account);
      // Half the races send the swap first, half the redeem.
      const order = i % 2 === 0 ? [swap, redeem] : [redeem, swap];
      return { credit: c, fresh, swap, redeem, order };
    });
    const answers = await Promise.all(
      races.map(async (r) => {
        const [a, b] = await Promise.all(r.order.map((msg) => post(m.url, '/v1/redeem', bodyOf(msg))));
        return r.order[0] === r.swap ? { swap: a!, redeem: b! } : { swap: b!, redeem: a! };
      }),
    );

    let redeemed = 0;
    let swapped = 0;
    const swapCredits: TestCredit[] = [];
    races.forEach((r, i) => {
      const { swap, redeem } = answers[i]!;
      expect([swap.status, redeem.status].filter((s) => s === 200)).toHaveLength(1);
      const loser = swap.status === 200 ? redeem : swap;
      expect(loser.status).toBe(409);
      expect(errorOf(loser)).toMatchObject({ code: 'ALREADY_SPENT', field: 'proofs[0]' });
      if (swap.status === 200) {
        swapped += r.credit.amount;
        const ok = redeemOk(swap);
        expect(ok.amount).toBe(r.credit.amount);
        // The fresh credits are real: their proofs verify and they unblind.
        swapCredits.push(...unblindAll(m.curve, m.keyset, r.fresh, ok.signatures!));
      } else {
        redeemed += r.credit.amount;
        expect(redeemOk(redeem)).toMatchObject({ amount: r.credit.amount, to: account });
      }
    });
    expect(redeemed + swapped).toBe(amounts.reduce((a, b) => a + b, 0));
    expect(await balanceOf(m, account)).toBe(redeemed);
    const after = m.mint.ledger.totals();
    expect(after.spent - before.spent).toBe(redeemed + swapped);
    expect(after.issued - before.issued).toBe(swapped);
    expect(await m.client.state(credits.map((c) => c.Y))).toEqual(credits.map(() => 'spent'));
    expect(m.mint.ledger.checkInvariants()).toEqual([]);

    // What the swaps gave is spendable once, like any credit.
    if (swapCredits.length > 0) {
      const spend = redeemMessage(m.keyset.id, swapCredits, account);
      expect((await m.client.redeem(spend)).amount).toBe(swapped);
      expect(await balanceOf(m, account)).toBe(redeemed + swapped);
      // The client throws the mint's own refusal (its 409 over HTTP is checked above, on the raw answers).
      const again = m.client.redeem(redeemMessage(m.keyset.id, swapCredits.slice(0, 1), account));
      await expect(again).rejects.toBeInstanceOf(MintError);
      await expect(again).rejects.toMatchObject({ code: 'ALREADY_SPENT' });
    }
    expect(m.mint.ledger.checkInvariants()).toEqual([]);
  });
});

// ---- Unlinkability ------------------------------------------------------------------------------

describe('unlinkability: what the mint keeps and logs cannot tie an issuance to a redemption', () => {
  /** A request as the client knows it: its id, its digest, and what it carried. */
  interface Sent {
    key: string;
    kind: 'payment' | 'redeem' | 'swap';
    id: Uint8Array;
    digest: Uint8Array;
    /** Credits it issued (B and C′ went over the wire). */
    issued: TestCredit[];
    /** Credits it spent (x and C went over the wire; the mint computed Y). */
    spent: TestCredit[];
  }

  let u: TestMint;
  const sent: Sent[] = [];
  let dump: ReturnType<typeof dumpDatabase>;
  let corpus: string;
  let fileBytes: Buffer;

  const digestOf = (msg: Parameters<typeof encodeMessage>[0]) => sha256(encodeMessage(msg));

  beforeAll(async () => {
    u = await mintForTests();
    const taskers = [Identity.generate(nodeCrypto), Identity.generate(nodeCrypto)];
    for (const t of taskers) await u.fund(toHex(t.publicKey), 100);

    // Four workers, each paid by a tasker in a payment of its own.
    const plan: [number, number[]][] = [
      [0, [1, 1, 1, 2]],
      [0, [1, 1, 2, 2]],
      [1, [1, 1, 1, 1, 2]],
      [1, [1, 2, 2]],
    ];
    const wallets: TestCredit[][] = [];
    let firstPayment: MessageOf<'payment'> | undefined;
    for (const [t, amounts] of plan) {
      const { issuances } = await issue(u.client, u.curve, taskers[t]!, u.keyset, amounts);
      firstPayment ??= issuances[0]!.message;
      for (const i of issuances) sent.push({ key: toHex(i.id), kind: 'payment', id: i.id, digest: i.digest, issued: i.credits, spent: [] });
      wallets.push(issuances.flatMap((i) => i.credits));
    }
    // A payment retried: the mint answers it again without storing anything more.
    const retry = sent[0]!;
    const again = await u.client.pay(firstPayment!);
    expect(again.signatures.map((s) => toHex(s.C))).toEqual(retry.issued.map((c) => toHex(c.Cblind)));

    const redeem = async (credits: TestCredit[], to: string) => {
      const msg = redeemMessage(u.keyset.id, credits, to);
      await u.client.redeem(msg);
      sent.push({ key: toHex(msg.id), kind: 'redeem', id: msg.id, digest: digestOf(msg), issued: [], spent: credits });
    };
    const swap = async (credits: TestCredit[], amounts: number[]) => {
      const fresh = blindOutputs(u.curve, amounts);
      const msg = redeemMessage(u.keyset.id, credits, fresh);
      const ok = await u.client.redeem(msg);
      const issued = unblindAll(u.curve, u.keyset, fresh, ok.signatures!);
      sent.push({ key: toHex(msg.id), kind: 'swap', id: msg.id, digest: digestOf(msg), issued, spent: credits });
      return issued;
    };
    const [w1, w2, w3, w4] = wallets as [TestCredit[], TestCredit[], TestCredit[], TestCredit[]];
    await redeem(w1, newAccount());
    const worker2 = newAccount();
    for (const c of w2) await redeem([c], worker2);
    const w3fresh = await swap(w3.slice(0, 4), [2, 2]);
    await redeem(w3fresh.slice(0, 1), newAccount());
    await swap(w4, [1, 4]);
    // Refusals leave counts and log lines too: a double spend, a forged credit, a reused id.
    const mallory = newAccount();
    await expect(u.client.redeem(redeemMessage(u.keyset.id, w1.slice(0, 1), mallory))).rejects.toMatchObject({ code: 'ALREADY_SPENT' });
    await expect(u.client.redeem(redeemMessage(u.keyset.id, [{ ...w3[4]!, C: w3[0]!.C }], mallory))).rejects.toMatchObject({
      code: 'INVALID_CREDIT',
    });
    await expect(u.client.redeem(redeemMessage(u.keyset.id, [w3[4]!], mallory, sent.at(-1)!.id))).rejects.toMatchObject({
      code: 'REQUEST_REUSED',
    });
    expect(u.mint.ledger.checkInvariants()).toEqual([]);

    // Stopped, so the WAL is checkpointed into the one file read below.
    await u.stop();
    dump = dumpDatabase(u.db);
    corpus = `${dumpText(dump)}\n${u.lines.map((l) => JSON.stringify(l)).join('\n')}`;
    fileBytes = Buffer.concat([readFileSync(u.db), ...['-wal', '-journal'].filter((s) => existsSync(u.db + s)).map((s) => readFileSync(u.db + s))]);
  });

  const issuedCredits = () => sent.flatMap((s) => s.issued);
  const spentCredits = () => sent.flatMap((s) => s.spent);
  const forms = (bytes: Uint8Array) => [toHex(bytes), toBase64(bytes), Buffer.from(bytes).toString('base64url')];

  it('the schema is the one audited here: no column for B, C′, x or C, and none that joins a request to a credit', () => {
    // A change to the schema must come back here and to the checks below.
    const columns = Object.fromEntries(Object.entries(dump).map(([name, t]) => [name, t.columns]));
    expect(columns).toEqual({
      meta: ['key', 'value'],
      keysets: ['id', 'seed', 'active', 'created_ms'],
      accounts: ['name', 'balance'],
      spent: ['y', 'keyset', 'amount'],
      requests: ['id', 'kind', 'digest'],
      totals: ['name', 'value'],
      audit: ['seq', 'ms', 'kind', 'outcome', 'account', 'amount', 'request'],
      // SHA-256 of each B signed, which is neither B nor anything a client sent.
      signed: ['h'],
      refusals: ['hour', 'kind', 'outcome', 'n'],
      sqlite_sequence: ['name', 'seq'],
    });
    // Every request the mint accepted is recorded once; the retry added nothing.
    expect(dump.requests!.rows.map((r) => r[0]).sort()).toEqual(
      [...sent.map((s) => s.key), ...dump.requests!.rows.filter((r) => r[1] === 'deposit').map((r) => r[0]!)].sort(),
    );
  });

  it('B, C′, x and C appear nowhere: not in any table, not in the logs, not in the file', () => {
    const credits = [...issuedCredits(), ...spentCredits()];
    expect(credits.length).toBeGreaterThan(20);
    const lower = corpus.toLowerCase();
    for (const c of credits) {
      for (const [name, value] of [['B', c.B], ["C'", c.Cblind], ['x', c.x], ['C', c.C], ['r', c.r]] as const) {
        for (const form of forms(value)) {
          expect(form.length === 64 ? lower.includes(form) : corpus.includes(form), `${name} ${form} is in the mint's data`).toBe(false);
        }
        expect(fileBytes.includes(Buffer.from(value)), `${name} ${toHex(value)} is in the ledger file`).toBe(false);
      }
    }
  });

  it("each spent credit's Y is in the spent table and nowhere else; unspent Ys are nowhere", () => {
    const spentYs = new Set(spentCredits().map((c) => toHex(c.Y)));
    expect(new Set(dump.spent!.rows.map((r) => r[0]))).toEqual(spentYs);
    const spentTable = dumpText({ spent: dump.spent! });
    const elsewhere = `${dumpText(Object.fromEntries(Object.entries(dump).filter(([n]) => n !== 'spent')))}\n${u.lines.map((l) => JSON.stringify(l)).join('\n')}`;
    for (const c of issuedCredits()) {
      const hex = toHex(c.Y);
      for (const form of forms(c.Y)) expect(elsewhere.includes(form), `Y ${hex} outside the spent table`).toBe(false);
      expect(spentTable.includes(hex)).toBe(spentYs.has(hex));
      // The scan of the raw file can find what is there: the spent Ys are.
      expect(fileBytes.includes(Buffer.from(c.Y))).toBe(spentYs.has(hex));
    }
  });

  it('no row of any table holds values of two different requests', () => {
    // Everything that identifies one request: its id and digest, and the points and secrets it carried.
    const owner = new Map<string, string>();
    for (const s of sent) {
      const values = [s.id, s.digest, ...s.issued.flatMap((c) => [c.B, c.Cblind]), ...s.spent.flatMap((c) => [c.Y, c.x, c.C])];
      for (const v of values) owner.set(toHex(v), s.key);
    }
    let tied = 0;
    for (const [table, t] of Object.entries(dump)) {
      for (const row of t.rows) {
        const text = row.join('|').toLowerCase();
        const requests = new Set([...owner].filter(([hex]) => text.includes(hex)).map(([, key]) => key));
        expect(requests.size, `${table} row ${row.join(' | ')} ties ${[...requests].join(' and ')}`).toBeLessThanOrEqual(1);
        if (requests.size === 1) tied++;
      }
    }
    // The check sees what it should: each request's own rows (requests, audit, spent) name it.
    expect(tied).toBeGreaterThanOrEqual(sent.length * 2);
  });

  it("with the mint's own key, every issued B is as consistent with every redeemed credit as its true origin", () => {
    const [row] = dump.keysets!.rows;
    const keyset = deriveKeyset(u.curve, fromHex(row![1]!));
    expect(toHex(keyset.id)).toBe(row![0]);
    expect(toHex(keyset.id)).toBe(toHex(u.keyset.id));
    const issued = issuedCredits();
    const redeemed = spentCredits();
    let pairs = 0;
    for (const d of DENOMINATIONS.slice(0, 3)) {
      const k = keyset.secrets.get(d)!;
      const wrongK = keyset.secrets.get(d === 1 ? 2 : 1)!;
      const from = issued.filter((c) => c.amount === d);
      const to = redeemed.filter((c) => c.amount === d);
      for (const j of to) {
        // What the mint saw at redemption: x and C; Y it computes.
        const Y = hashToCurve(u.curve, j.x);
        expect(toHex(Y)).toBe(toHex(j.Y));
        const consistent = from.filter((i) => toHex(u.curve.sub(i.Cblind, j.C)) === toHex(u.curve.mul(k, u.curve.sub(i.B, Y))));
        // C′ᵢ − Cⱼ = k·(Bᵢ − Yⱼ) for every i: B = Y + r·G hides which r, so every issuance fits every credit.
        expect(consistent.length).toBe(from.length);
        // …and the relation is not vacuous: under another denomination's key no pair fits.
        expect(from.filter((i) => toHex(u.curve.sub(i.Cblind, j.C)) === toHex(u.curve.mul(wrongK, u.curve.sub(i.B, Y))))).toEqual([]);
        pairs += from.length;
      }
    }
    expect(pairs).toBeGreaterThan(100);
  });
});

// ---- Bad input ----------------------------------------------------------------------------------

describe('bad input: refused with its typed code, the ledger untouched', () => {
  let m: TestMint;
  const tasker = Identity.generate(nodeCrypto);
  const stranger = Identity.generate(nodeCrypto);
  const mallory = Identity.generate(nodeCrypto);
  /** Unspent credits of 1, 1, 2, 4, 1; `spent` was redeemed to dave by `done`. */
  let credits: TestCredit[];
  let spent: TestCredit;
  let done: MessageOf<'redeem'>;
  let deposited: MessageOf<'deposit'>;
  const dave = newAccount();
  const x = newAccount();

  beforeAll(async () => {
    m = await mintForTests();
    deposited = depositMessage(m.admin, m.mint.id, toHex(tasker.publicKey), 12);
    await m.client.deposit(deposited);
    [spent, ...credits] = (await issue(m.client, m.curve, tasker, m.keyset, [2, 1, 1, 2, 4, 1])).credits as [TestCredit, ...TestCredit[]];
    done = redeemMessage(m.keyset.id, [spent], dave);
    await m.client.redeem(done);
    // The tasker has 12 − 11 = 1 left.
    expect(await m.client.balance(toHex(tasker.publicKey))).toBe(1);
  });

  const send = (path: string, msg: Parameters<typeof encodeMessage>[0]) => post(m.url, path, bodyOf(msg));
  /** Bytes the message codec would refuse to encode, bencoded by hand. */
  const sendRaw = (path: string, dict: Record<string, unknown>) =>
    post(m.url, path, JSON.stringify({ message: toBase64(encode(dict as Parameters<typeof encode>[0])) }));
  const unsignedPayment = (who: Identity, outputs: { amount: number; B: Uint8Array }[], keyset = m.keyset.id) => ({
    t: 'payment' as const,
    v: 1 as const,
    id: newId(),
    keyset,
    outputs,
    tasker: who.publicKey,
    ts: Date.now(),
  });
  const pay = (who: Identity, outputs: { amount: number; B: Uint8Array }[], keyset = m.keyset.id) =>
    send('/v1/pay', signMessage(nodeCrypto, who.exportSeed(), unsignedPayment(who, outputs, keyset)));
  const outputs = (amounts: number[]) => blindOutputs(m.curve, amounts).map((o) => ({ amount: o.amount, B: o.B }));
  const notAPoint = () => {
    for (;;) {
      const bytes = nodeCrypto.randomBytes(32);
      if (!m.curve.isPoint(bytes)) return bytes;
    }
  };
  const swapOf = (cs: TestCredit[], amounts: number[] | { amount: number; B: Uint8Array }[]) => ({
    ...redeemMessage(m.keyset.id, cs, x),
    to: undefined,
    outputs: typeof amounts[0] === 'number' ? outputs(amounts as number[]) : (amounts as { amount: number; B: Uint8Array }[]),
  });
  // One bad encoding of each kind: the identity, a set top bit, and the first of each RFC 9496 reason.
  const badPoints = vectors.negative.notPoints.filter(
    (v, i, all) => v.hex.length === 64 && all.findIndex((w) => w.name.replace(/\d+/g, '') === v.name.replace(/\d+/g, '')) === i,
  );

  interface Case {
    status: number;
    code: string;
    field?: string;
    /** The kind the mint counts the refusal under, or null when the request never reached the mint. */
    audit: string | null;
    send: () => Promise<RawAnswer>;
  }

  const cases: [string, Case][] = [
    // Signatures.
    ['a payment signed by another key', {
      status: 403, code: 'SIGNATURE', field: 'sig', audit: 'payment',
      send: () => {
        const unsigned = unsignedPayment(tasker, outputs([1]));
        const body = messageSigningBytes(unsigned).subarray(utf8(DOMAINS.payment).length);
        return send('/v1/pay', { ...unsigned, sig: mallory.sign('payment', body) });
      },
    }],
    ['a payment signed by its own key, then its tasker swapped', {
      status: 403, code: 'SIGNATURE', field: 'sig', audit: 'payment',
      send: () => send('/v1/pay', { ...signMessage(nodeCrypto, mallory.exportSeed(), unsignedPayment(mallory, outputs([1]))), tasker: tasker.publicKey }),
    }],
    ['a payment with one bit of its signature flipped', {
      status: 403, code: 'SIGNATURE', field: 'sig', audit: 'payment',
      send: () => {
        const msg = signMessage(nodeCrypto, tasker.exportSeed(), unsignedPayment(tasker, outputs([1])));
        const sig = Uint8Array.from(msg.sig);
        sig[5]! ^= 1;
        return send('/v1/pay', { ...msg, sig });
      },
    }],
    // Accounts.
    ['a tasker paying more than its deposit holds', {
      status: 402, code: 'INSUFFICIENT_FUNDS', field: 'outputs', audit: 'payment', send: () => pay(tasker, outputs([1, 1])),
    }],
    ['a payment from an account the mint does not have', {
      status: 404, code: 'UNKNOWN_ACCOUNT', field: 'tasker', audit: 'payment', send: () => pay(stranger, outputs([1])),
    }],
    // Points.
    ...badPoints.map((v): [string, Case] => [`a payment output B that is not a point: ${v.name}`, {
      status: 400, code: 'KEY', field: 'outputs[0].B', audit: 'payment', send: () => pay(tasker, [{ amount: 1, B: fromHex(v.hex) }]),
    }]),
    ['a payment whose second output is random bytes', {
      status: 400, code: 'KEY', field: 'outputs[1].B', audit: 'payment', send: () => pay(tasker, [...outputs([1]), { amount: 1, B: notAPoint() }]),
    }],
    ['a swap whose output is the identity', {
      status: 400, code: 'KEY', field: 'outputs[0].B', audit: 'redeem',
      send: () => send('/v1/redeem', swapOf([credits[0]!], [{ amount: 1, B: new Uint8Array(32) }])),
    }],
    // Keysets and amounts.
    ['a payment under a keyset the mint does not have', {
      status: 404, code: 'UNKNOWN_KEYSET', field: 'keyset', audit: 'payment', send: () => pay(tasker, outputs([1]), nodeCrypto.randomBytes(8)),
    }],
    ['a redeem under a keyset the mint does not have', {
      status: 404, code: 'UNKNOWN_KEYSET', field: 'keyset', audit: 'redeem',
      send: () => send('/v1/redeem', { ...redeemMessage(m.keyset.id, [credits[0]!], x), keyset: Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7) }),
    }],
    ['a payment output of 3, not a power of two', {
      status: 400, code: 'AMOUNT', field: 'outputs[0].amount', audit: 'payment', send: () => pay(tasker, outputs([3])),
    }],
    ['a payment output of 2^24, past the largest denomination', {
      status: 400, code: 'AMOUNT', field: 'outputs[0].amount', audit: 'payment', send: () => pay(tasker, outputs([2 ** 24])),
    }],
    ['a credit claiming an amount of 3', {
      status: 400, code: 'AMOUNT', field: 'proofs[0].amount', audit: 'redeem',
      send: () => send('/v1/redeem', redeemMessage(m.keyset.id, [{ ...credits[0]!, amount: 3 }], x)),
    }],
    ['a swap whose outputs sum to less than its credits', {
      status: 400, code: 'AMOUNT', field: 'outputs', audit: 'redeem', send: () => send('/v1/redeem', swapOf([credits[2]!], [1])),
    }],
    ['a swap whose outputs sum to more than its credits', {
      status: 400, code: 'AMOUNT', field: 'outputs', audit: 'redeem', send: () => send('/v1/redeem', swapOf([credits[2]!], [2, 1])),
    }],
    // Size and shape.
    ['a payment of 65 outputs', {
      status: 400, code: 'SCHEMA', field: 'outputs', audit: 'payment',
      send: () => sendRaw('/v1/pay', { ...unsignedPayment(tasker, outputs(Array(MESSAGE_LIMITS.outputs + 1).fill(1))), sig: new Uint8Array(64) }),
    }],
    ['a body over 128 KiB', {
      status: 413, code: 'TOO_LARGE', audit: null, send: () => post(m.url, '/v1/redeem', JSON.stringify({ message: 'A'.repeat(128 * 1024) })),
    }],
    ['a chunked body over 128 KiB (no length declared)', {
      status: 413, code: 'TOO_LARGE', audit: null,
      send: () => post(m.url, '/v1/pay', JSON.stringify({ message: 'A'.repeat(130 * 1024) }), { 'transfer-encoding': 'chunked' }),
    }],
    ['a body that is not JSON', { status: 400, code: 'SCHEMA', audit: null, send: () => post(m.url, '/v1/redeem', '{"message": ') }],
    ['JSON without a message', { status: 400, code: 'SCHEMA', field: 'message', audit: null, send: () => post(m.url, '/v1/pay', '[1,2,3]') }],
    ['a message that is not base64', {
      status: 400, code: 'SCHEMA', field: 'message', audit: null, send: () => post(m.url, '/v1/redeem', JSON.stringify({ message: 'not base64!' })),
    }],
    ['base64 of bytes that are not bencode', {
      status: 400, code: 'DECODE', audit: 'redeem', send: () => post(m.url, '/v1/redeem', JSON.stringify({ message: toBase64(nodeCrypto.randomBytes(48)) })),
    }],
    ['a deposit sent to /v1/pay', { status: 400, code: 'SCHEMA', field: 't', audit: 'payment', send: () => send('/v1/pay', deposited) }],
    ['a redeem of version 2', {
      status: 400, code: 'VERSION', field: 'v', audit: 'redeem',
      send: () => sendRaw('/v1/redeem', { ...redeemMessage(m.keyset.id, [credits[0]!], x), v: 2 }),
    }],
    ['a redeem naming one credit twice', {
      status: 400, code: 'SCHEMA', field: 'proofs[1].x', audit: 'redeem',
      send: () => sendRaw('/v1/redeem', redeemMessage(m.keyset.id, [credits[0]!, credits[0]!], x)),
    }],
    ['a redeem with both an account and outputs', {
      status: 400, code: 'SCHEMA', field: 'to', audit: 'redeem',
      send: () => sendRaw('/v1/redeem', { ...swapOf([credits[0]!], [1]), to: x }),
    }],
    // Accounts are keys.
    ['a redeem to a name, not a key', {
      status: 400, code: 'SCHEMA', field: 'to', audit: 'redeem', send: () => sendRaw('/v1/redeem', { ...redeemMessage(m.keyset.id, [credits[0]!], x), to: 'alice' }),
    }],
    ['a redeem to a key of small order', {
      status: 400, code: 'SCHEMA', field: 'to', audit: 'redeem',
      send: () => sendRaw('/v1/redeem', { ...redeemMessage(m.keyset.id, [credits[0]!], x), to: '00'.repeat(32) }),
    }],
    ['a deposit to a name, not a key', {
      status: 400, code: 'SCHEMA', field: 'account', audit: 'deposit',
      send: () => sendRaw('/v1/deposit', { ...depositMessage(m.admin, m.mint.id, x, 5), account: 'whale' }),
    }],
    // Blinded outputs are signed once.
    ['a payment for a blinded output the mint has signed', {
      status: 409, code: 'ALREADY_SIGNED', field: 'outputs[0].B', audit: 'payment', send: () => pay(tasker, [{ amount: 1, B: credits[0]!.B }]),
    }],
    ['a payment naming one blinded output twice', {
      status: 409, code: 'ALREADY_SIGNED', field: 'outputs[1].B', audit: 'payment',
      send: () => {
        const [o] = outputs([1]);
        return pay(tasker, [o!, o!]);
      },
    }],
    ['a swap for a blinded output the mint has signed', {
      status: 409, code: 'ALREADY_SIGNED', field: 'outputs[0].B', audit: 'swap',
      send: () => send('/v1/redeem', swapOf([credits[0]!], [{ amount: 1, B: credits[1]!.B }])),
    }],
    // Deposits.
    ['a deposit signed by a key that is not an admin', {
      status: 403, code: 'UNAUTHORIZED', field: 'admin', audit: 'deposit', send: () => send('/v1/deposit', depositMessage(mallory, m.mint.id, x, 1000)),
    }],
    ['a deposit naming the admin, signed by another key', {
      status: 403, code: 'SIGNATURE', field: 'sig', audit: 'deposit',
      send: () => {
        const msg = depositMessage(mallory, m.mint.id, x, 1000);
        return send('/v1/deposit', { ...msg, admin: m.admin.publicKey });
      },
    }],
    ['a deposit that would take the deposits past 2^53, where sums stop being exact', {
      status: 400, code: 'AMOUNT', field: 'amount', audit: 'deposit',
      send: () => send('/v1/deposit', depositMessage(m.admin, m.mint.id, x, Number.MAX_SAFE_INTEGER)),
    }],
    ['a deposit for another mint', {
      status: 403, code: 'WRONG_MINT', field: 'mint', audit: 'deposit', send: () => send('/v1/deposit', depositMessage(m.admin, newId(), x, 5)),
    }],
    ['a deposit signed eleven minutes ago', {
      status: 403, code: 'STALE', field: 'ts', audit: 'deposit',
      send: () => send('/v1/deposit', depositMessage(m.admin, m.mint.id, x, 5, newId(), Date.now() - 11 * 60_000)),
    }],
    ['a deposit dated eleven minutes ahead', {
      status: 403, code: 'STALE', field: 'ts', audit: 'deposit',
      send: () => send('/v1/deposit', depositMessage(m.admin, m.mint.id, x, 5, newId(), Date.now() + 11 * 60_000)),
    }],
    // Request ids.
    ['a redeem reusing the id of another redeem', {
      status: 409, code: 'REQUEST_REUSED', field: 'id', audit: 'redeem',
      send: () => send('/v1/redeem', redeemMessage(m.keyset.id, [credits[0]!], dave, done.id)),
    }],
    ['a swap reusing the id of a redeem', {
      status: 409, code: 'REQUEST_REUSED', field: 'id', audit: 'redeem', send: () => send('/v1/redeem', { ...swapOf([credits[0]!], [1]), id: done.id }),
    }],
    ['a deposit reusing an id with another amount', {
      status: 409, code: 'REQUEST_REUSED', field: 'id', audit: 'deposit',
      send: () => send('/v1/deposit', depositMessage(m.admin, m.mint.id, deposited.account, 13, deposited.id)),
    }],
    // Credits.
    ['a credit with the C of another credit', {
      status: 400, code: 'INVALID_CREDIT', field: 'proofs[0]', audit: 'redeem',
      send: () => send('/v1/redeem', redeemMessage(m.keyset.id, [{ ...credits[0]!, C: credits[1]!.C }], x)),
    }],
    ['a credit whose C is not a point', {
      status: 400, code: 'INVALID_CREDIT', field: 'proofs[1]', audit: 'redeem',
      send: () => send('/v1/redeem', redeemMessage(m.keyset.id, [credits[0]!, { ...credits[1]!, C: notAPoint() }], x)),
    }],
    ['a credit with the amount of another denomination', {
      status: 400, code: 'INVALID_CREDIT', field: 'proofs[0]', audit: 'redeem',
      send: () => send('/v1/redeem', redeemMessage(m.keyset.id, [{ ...credits[2]!, amount: 4 }], x)),
    }],
    ['a fresh credit together with a spent one', {
      status: 409, code: 'ALREADY_SPENT', field: 'proofs[1]', audit: 'redeem',
      send: () => send('/v1/redeem', redeemMessage(m.keyset.id, [credits[0]!, spent], x)),
    }],
    // Routes and reads.
    ['an unknown route', { status: 404, code: 'NOT_FOUND', audit: null, send: () => post(m.url, '/v1/nope') }],
    ['a known route with the wrong method', { status: 404, code: 'NOT_FOUND', audit: null, send: () => post(m.url, '/v1/redeem') }],
    ['the balance of an account the mint does not have', {
      status: 404, code: 'UNKNOWN_ACCOUNT', field: 'account', audit: null, send: () => post(m.url, `/v1/accounts/${newAccount()}`),
    }],
    ['the balance of a name, not a key', {
      status: 400, code: 'SCHEMA', field: 'account', audit: null, send: () => post(m.url, '/v1/accounts/nobody'),
    }],
    ['a state query with a Y that is not hex', {
      status: 400, code: 'SCHEMA', field: 'Ys[1]', audit: null, send: () => post(m.url, '/v1/state', JSON.stringify({ Ys: [toHex(spent.Y), 'zz'] })),
    }],
  ];

  it.each(cases)('%s', async (_name, c) => {
    const before = ledgerSnapshot(m.db);
    const auditBefore = m.mint.ledger.auditLog().length;
    const refusalsBefore = m.mint.ledger.refusals();
    const logBefore = m.lines.length;

    const answer = await c.send();
    expect(answer.status).toBe(c.status);
    expect(STATUS_OF[c.code as keyof typeof STATUS_OF] ?? 400).toBe(c.status);
    const error = errorOf(answer)!;
    expect(error).toMatchObject({ code: c.code, message: expect.any(String) });
    if (c.field !== undefined) expect(error.field).toBe(c.field);
    // A client rebuilds the typed error from the record.
    expect(fromErrorRecord(error as ErrorRecord)).toMatchObject({ code: c.code, field: c.field ?? error.field });
    expect(fromErrorRecord(error as ErrorRecord)).toBeInstanceOf(SpareCyclesError);

    expect(ledgerSnapshot(m.db)).toBe(before);
    // A refusal writes no audit line: it is counted, once, under its kind and code.
    expect(m.mint.ledger.auditLog().length).toBe(auditBefore);
    const counted = m.mint.ledger.refusals().flatMap((r) => {
      const n = r.n - (refusalsBefore.find((b) => b.kind === r.kind && b.outcome === r.outcome)?.n ?? 0);
      return n > 0 ? [{ kind: r.kind, outcome: r.outcome, n }] : [];
    });
    expect(counted).toEqual(c.audit === null ? [] : [{ kind: c.audit, outcome: c.code, n: 1 }]);
    expect(m.lines.slice(logBefore)).toEqual([expect.objectContaining({ level: 'warn', event: 'mint.refused', code: c.code })]);
  });

  it('survives all of it: /health, /metrics and a real redeem still answer', async () => {
    const health = await post(m.url, '/health');
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({ ok: true, keyset: toHex(m.keyset.id), curve: m.mint.curve.name, invariants: [] });
    expect(m.mint.curve.name).toMatch(/^sodium-(system|wasm)$/);

    const metrics = await post(m.url, '/metrics');
    expect(metrics.status).toBe(200);
    for (const outcome of ['SIGNATURE', 'KEY', 'AMOUNT', 'UNKNOWN_KEYSET', 'ALREADY_SPENT', 'REQUEST_REUSED', 'INVALID_CREDIT']) {
      expect(metrics.text).toMatch(new RegExp(`^sparecycles_mint_requests_total\\{route="(pay|redeem)",outcome="${outcome}"\\} [1-9]`, 'm'));
    }
    expect(metrics.text).toMatch(/^sparecycles_mint_requests_total\{route="unknown",outcome="NOT_FOUND"\} [1-9]/m);
    expect(metrics.text).toMatch(/^sparecycles_mint_spent_total 2$/m);

    // Every credit the refused requests named is still unspent, and spends now.
    expect(await m.client.state(credits.map((c) => c.Y))).toEqual(credits.map(() => 'unspent'));
    const erin = newAccount();
    const ok = await m.client.redeem(redeemMessage(m.keyset.id, credits, erin));
    expect(ok.amount).toBe(9);
    expect(await m.client.balance(erin)).toBe(9);
    expect(m.mint.ledger.checkInvariants()).toEqual([]);
    expect((await m.client.keysets()).map((k) => k.id)).toEqual([toHex(m.keyset.id)]);
  });
});
