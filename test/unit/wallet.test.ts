// The wallet against a real mint on loopback: a tasker funded by a signed
// deposit pays the wallet's blinded outputs with a signed payment, as it
// would for a unit of work; the wallet checks every DLEQ proof, unblinds,
// hands credits over as tokens, and redeems them to an account or swaps them.
// The mint runs libsodium, the wallet @noble/curves, so every credit here
// also crosses the two backends. Then what a wallet must survive: forged and
// tampered signatures, the same token in two wallets, a crash after handing
// out outputs, a lost answer to a redeem, and a file that does not read.

import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MintClient } from '../../net/mint-client.ts';
import { fromHex, toHex } from '../../protocol/bytes.ts';
import { hashToCurve, proveDleq, signBlinded } from '../../protocol/credits/bdhke.ts';
import { nobleCurve, scalarFromBigint, scalarOps } from '../../protocol/credits/curve.ts';
import { DENOMINATIONS, deriveKeyset, type PublicKeyset } from '../../protocol/credits/keyset.ts';
import { decodeToken, encodeToken } from '../../protocol/credits/token.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { KeyError, MintError, NetworkError, UsageError } from '../../protocol/errors.ts';
import { encodeMessage, signMessage, type BlindedOutput, type BlindSignature } from '../../protocol/messages/index.ts';
import { walletEarnings } from '../../worker/earnings.ts';
import { WalletFile } from '../../worker/node/wallet-file.ts';
import { readWalletData, type WalletStore } from '../../worker/wallet-data.ts';
import { memoryWalletStore, selectCredits, splitOutputs, Wallet, WalletError, type StoredCredit, type WalletData } from '../../worker/wallet.ts';
import { startTestMint, type TestMint } from '../../testnet/testnet-mint.ts';

const curve = nobleCurve;
let m: TestMint;
let dir: string;
let client: MintClient;
let url: string;
let keyset: PublicKeyset;
const tasker = Identity.generate(nodeCrypto);
/** Accounts to redeem to: an account is an ed25519 key in hex. */
const ACCOUNTS = Object.fromEntries(
  ['alice', 'many', 'swapper', 'first', 'second', 'picky', 'x'].map((name) => [name, toHex(Identity.generate(nodeCrypto).publicKey)]),
) as Record<'alice' | 'many' | 'swapper' | 'first' | 'second' | 'picky' | 'x', string>;

beforeAll(async () => {
  m = await startTestMint();
  ({ dir, client, url } = m);
  keyset = await client.activeKeyset(curve);
  await m.fund(toHex(tasker.publicKey), 10_000_000);
});

afterAll(async () => {
  await m?.stop();
});

// ---- Helpers -------------------------------------------------------------------------------

/** The tasker pays blinded outputs, as it would for accepted work. */
async function pay(outputs: readonly BlindedOutput[]): Promise<BlindSignature[]> {
  const msg = signMessage(nodeCrypto, tasker.exportSeed(), {
    t: 'payment',
    v: 1,
    id: nodeCrypto.randomBytes(16),
    keyset: keyset.id,
    outputs: [...outputs],
    tasker: tasker.publicKey,
    ts: Date.now(),
  });
  return (await client.pay(msg)).signatures;
}

/** A wallet paid `amounts`, each prepared and paid on its own. */
async function paidWallet(amounts: readonly number[], store: WalletStore = memoryWalletStore()): Promise<Wallet> {
  const wallet = await Wallet.open(store);
  for (const [i, amount] of amounts.entries()) {
    const outputs = await wallet.prepare(url, amount, `unit/${i}`);
    await wallet.receive(url, keyset, await pay(outputs), outputs.map((o) => o.B));
  }
  return wallet;
}

const execFileAsync = promisify(execFile);
const Y = (c: { x: string }) => hashToCurve(curve, fromHex(c.x));
const states = (credits: readonly { x: string }[]) => client.state(credits.map(Y));
const amounts = (credits: readonly StoredCredit[]) => credits.map((c) => c.amount).sort((a, b) => a - b);
const flip = (bytes: Uint8Array, at = 0) => {
  const out = bytes.slice();
  out[at]! ^= 1;
  return out;
};

async function refusal(p: Promise<unknown>): Promise<WalletError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WalletError);
  return error as WalletError;
}

async function tempFile(name: string): Promise<string> {
  const sub = await mkdtemp(join(dir, 'w-'));
  return join(sub, name);
}

// ---- Splitting and choosing ------------------------------------------------------------------

describe('amounts', () => {
  it('split largest first, with the largest denomination repeated beyond its range', () => {
    expect(splitOutputs(13)).toEqual([8, 4, 1]);
    const top = DENOMINATIONS.at(-1)!;
    expect(splitOutputs(3 * top + 5)).toEqual([top, top, top, 4, 1]);
    expect(() => splitOutputs(0)).toThrow(UsageError);
    expect(() => splitOutputs(65 * top)).toThrow(UsageError);
  });

  it('are chosen exactly when any subset makes them, else covered with little left over', () => {
    const of = (...a: number[]) => a.map((amount, i): StoredCredit => ({ mint: 'http://m', keyset: '00', amount, x: String(i), C: '' }));
    expect(amounts(selectCredits(of(8, 4, 4, 2, 1), 10)!.credits)).toEqual([2, 8]);
    expect(selectCredits(of(8, 4, 4, 2, 1), 10)!.exact).toBe(true);
    expect(amounts(selectCredits(of(4, 4, 2, 2), 10)!.credits)).toEqual([2, 4, 4]);
    // Not exactly: one credit above it rather than 1 + 8.
    expect(selectCredits(of(8, 1), 5)).toEqual({ credits: of(8, 1).slice(0, 1), exact: false });
    // Not exactly, and no single credit covers it.
    expect(amounts(selectCredits(of(4, 4, 1), 6)!.credits)).toEqual([4, 4]);
    expect(amounts(selectCredits(of(8, 2, 2), 11)!.credits)).toEqual([2, 2, 8]);
    expect(selectCredits(of(4, 1), 6)).toBeUndefined();
  });
});

// ---- Being paid ------------------------------------------------------------------------------

describe('a wallet being paid', () => {
  it('prepares outputs, saves them before handing them out, and receives the signatures as credits', async () => {
    const store = memoryWalletStore();
    const wallet = await Wallet.open(store);
    const outputs = await wallet.prepare(url, 13, 'task/unit-7');
    expect(outputs.map((o) => o.amount)).toEqual([8, 4, 1]);
    // On the store before they were returned.
    expect(readWalletData(store.data).pending.map((p) => p.B)).toEqual(outputs.map((o) => toHex(o.B)));
    expect(wallet.pendingFor('task/unit-7').map((p) => p.amount)).toEqual([8, 4, 1]);
    expect(wallet.balance()).toBe(0);

    const signatures = await pay(outputs);
    const received = await wallet.receive(url, keyset, signatures, outputs.map((o) => o.B));
    expect(amounts(received)).toEqual([1, 4, 8]);
    expect(wallet.balance()).toBe(13);
    expect(wallet.balance(url)).toBe(13);
    expect(wallet.balance(`${url}/`)).toBe(13);
    expect(wallet.balance('http://127.0.0.1:1')).toBe(0);
    expect(wallet.pendingFor('task/unit-7')).toEqual([]);
    expect(wallet.list().every((c) => c.keyset === toHex(keyset.id) && c.mint === url)).toBe(true);
    expect(readWalletData(store.data)).toEqual(wallet.snapshot());
    expect(await states(received)).toEqual(['unspent', 'unspent', 'unspent']);

    // The same signatures again: the outputs are no longer pending.
    expect((await refusal(wallet.receive(url, keyset, signatures, outputs.map((o) => o.B)))).code).toBe('UNKNOWN_OUTPUT');
    expect(wallet.balance()).toBe(13);
  });

  it('refuses forged and tampered signatures, leaving the wallet as it was', async () => {
    const store = memoryWalletStore();
    const wallet = await Wallet.open(store);
    const outputs = await wallet.prepare(url, 6, 'task/unit-8');
    const Bs = outputs.map((o) => o.B);
    const genuine = await pay(outputs);
    const before = JSON.stringify(store.data);

    // A mint signing with a key of its own, and proving that key, to recognise the credit later.
    const rogue = deriveKeyset(curve, nodeCrypto.randomBytes(32));
    const forged = outputs.map((o): BlindSignature => {
      const k = rogue.secrets.get(o.amount)!;
      const C = signBlinded(curve, k, o.B);
      return { amount: o.amount, C, ...proveDleq(curve, k, o.B, C) };
    });
    const one = scalarFromBigint(1n);
    const cases: [string, BlindSignature[], readonly Uint8Array[], WalletError['code'], string][] = [
      ['signed with a key not in the keyset', forged, Bs, 'PROOF', 'signatures[0]'],
      ['e changed', [genuine[0]!, { ...genuine[1]!, e: scalarOps.add(genuine[1]!.e, one) }], Bs, 'PROOF', 'signatures[1]'],
      ['s changed', [{ ...genuine[0]!, s: scalarOps.add(genuine[0]!.s, one) }, genuine[1]!], Bs, 'PROOF', 'signatures[0]'],
      ["C' with a bit flipped", [genuine[0]!, { ...genuine[1]!, C: flip(genuine[1]!.C) }], Bs, 'PROOF', 'signatures[1]'],
      ['signatures swapped', [genuine[1]!, genuine[0]!], Bs, 'MISMATCH', 'signatures[0].amount'],
      ['proofs swapped between outputs', [{ ...genuine[0]!, e: genuine[1]!.e, s: genuine[1]!.s }, genuine[1]!], Bs, 'PROOF', 'signatures[0]'],
      ['an amount changed', [genuine[0]!, { ...genuine[1]!, amount: 1 }], Bs, 'MISMATCH', 'signatures[1].amount'],
      ['one signature short', genuine.slice(0, 1), Bs, 'MISMATCH', 'signatures'],
      ['an output never handed out', genuine, [Bs[0]!, flip(Bs[1]!)], 'UNKNOWN_OUTPUT', 'outputs[1]'],
      ['the same output twice', genuine, [Bs[0]!, Bs[0]!], 'UNKNOWN_OUTPUT', 'outputs[1]'],
    ];
    for (const [name, signatures, outputsOf, code, field] of cases) {
      const error = await refusal(wallet.receive(url, keyset, signatures, outputsOf));
      expect([name, error.code, error.field]).toEqual([name, code, field]);
      expect(JSON.stringify(store.data), name).toBe(before);
      expect(wallet.balance(), name).toBe(0);
      expect(wallet.pendingFor('task/unit-8'), name).toHaveLength(2);
    }
    // At another mint's URL, the outputs are not pending.
    expect((await refusal(wallet.receive('http://127.0.0.1:1', keyset, genuine, Bs))).code).toBe('UNKNOWN_OUTPUT');

    // The genuine signatures still go through.
    await wallet.receive(url, keyset, genuine, Bs);
    expect(wallet.balance()).toBe(6);
  });

  it('hands out nothing it could not save', async () => {
    const store = memoryWalletStore();
    const wallet = await Wallet.open(store);
    store.save = async () => {
      throw new Error('disk full');
    };
    await expect(wallet.prepare(url, 5, 'task/unit-9')).rejects.toThrow('disk full');
    expect(wallet.pendingFor('task/unit-9')).toEqual([]);
    expect(store.data).toBeUndefined();
  });

  it('survives a crash after handing out outputs: the reopened wallet receives their signatures', async () => {
    const path = await tempFile('wallet.json');
    const outputs = await (await Wallet.open(new WalletFile(path))).prepare(url, 21, 'task/unit-10');
    // The process dies here. The tasker pays; a new process opens the file.
    const signatures = await pay(outputs);
    const reopened = await Wallet.open(new WalletFile(path));
    expect(reopened.pendingFor('task/unit-10').map((p) => p.B)).toEqual(outputs.map((o) => toHex(o.B)));
    await reopened.receive(url, keyset, signatures, outputs.map((o) => o.B));
    expect(reopened.balance()).toBe(21);
    expect((await Wallet.open(new WalletFile(path))).balance()).toBe(21);
  });

  it('keeps pay delivered twice for one label once, without an error, even when both arrive together', async () => {
    const store = memoryWalletStore();
    const wallet = await Wallet.open(store);
    const earnings = walletEarnings(wallet, { client: () => client });
    const label = `${'ab'.repeat(20)}:4:${'cd'.repeat(16)}`;
    const outputs = await earnings.request(url, 13, label);
    const ok = await pay(outputs.map((B, i) => ({ amount: [8, 4, 1][i]!, B })));
    const delivered = { keyset: keyset.id, signatures: ok };
    // A receipt sent again after a reconnection, handled while the first is still being kept.
    expect(await Promise.all([earnings.receive(url, label, delivered), earnings.receive(url, label, delivered)])).toEqual([13, 0]);
    expect(await earnings.receive(url, label, delivered)).toBe(0);
    expect(wallet.balance(url)).toBe(13);
    expect(wallet.list()).toHaveLength(3);
    expect(wallet.pendingFor(label)).toEqual([]);
    expect(await wallet.receiveFor(url, keyset, ok, label)).toEqual([]);
    expect(readWalletData(store.data)).toEqual(wallet.snapshot());
  });
});

// ---- Tokens ------------------------------------------------------------------------------

describe('tokens between wallets', () => {
  it('move exactly the credits exported', async () => {
    const alice = await paidWallet([15]);
    const bob = await Wallet.open(memoryWalletStore());
    const token = await alice.exportToken({ amount: 6 });
    expect(alice.balance()).toBe(9);
    const decoded = decodeToken(token);
    expect(decoded.mint).toBe(url);
    expect(decoded.credits.map((c) => c.amount).sort()).toEqual([2, 4]);

    const imported = await bob.importToken(token);
    expect(imported).toMatchObject({ mint: url, duplicates: 0 });
    expect(amounts(imported.added)).toEqual([2, 4]);
    expect(bob.balance(url)).toBe(6);
    // Nothing of alice's remaining credits went along, and nothing twice.
    const aliceXs = new Set(alice.list().map((c) => c.x));
    expect(bob.list().some((c) => aliceXs.has(c.x))).toBe(false);
    expect(await bob.importToken(token)).toMatchObject({ added: [], duplicates: 2 });
    expect(bob.balance()).toBe(6);

    // 9 is 8 + 1: 5 cannot be made exactly, and nothing leaves.
    const error = await refusal(alice.exportToken({ amount: 5 }));
    expect(error.code).toBe('CHANGE');
    expect(error.message).toMatch(/nearest above is 8/);
    expect((await refusal(alice.exportToken({ amount: 10 }))).code).toBe('FUNDS');
    expect((await refusal(alice.exportToken({ amount: 1, mint: 'http://127.0.0.1:1' }))).code).toBe('FUNDS');
    expect(alice.balance()).toBe(9);
    expect(alice.take(5).map((c) => c.amount)).toEqual([8]);

    // All of it.
    const rest = await alice.exportToken();
    expect(alice.balance()).toBe(0);
    await bob.importToken(rest);
    expect(bob.balance()).toBe(15);
    expect((await refusal(alice.exportToken())).code).toBe('FUNDS');
  });

  it('refuse a token whose C is not a point, importing nothing', async () => {
    const wallet = await Wallet.open(memoryWalletStore());
    const token = encodeToken(url, [{ keyset: keyset.id, amount: 1, x: new Uint8Array(32).fill(1), C: new Uint8Array(32) }]);
    await expect(wallet.importToken(token)).rejects.toBeInstanceOf(KeyError);
    expect(wallet.balance()).toBe(0);
  });

  it('need a mint named when the wallet holds credits of several', async () => {
    const wallet = await paidWallet([3]);
    await wallet.importToken(encodeToken('https://other.example', [{ keyset: keyset.id, amount: 1, x: new Uint8Array(32).fill(9), C: keyset.keys.get(1)! }]));
    expect(wallet.mints().sort()).toEqual(['https://other.example', url].sort());
    expect((await refusal(wallet.exportToken({ amount: 1 }))).code).toBe('MINT');
    expect(decodeToken(await wallet.exportToken({ amount: 1, mint: 'https://other.example/' })).mint).toBe('https://other.example');
  });
});

// ---- Redeeming ---------------------------------------------------------------------------

describe('redeeming', () => {
  it('to an account moves the balance there and spends the credits', async () => {
    const wallet = await paidWallet([100, 7]);
    const credits = wallet.list();
    const report = await wallet.redeem(client, { to: ACCOUNTS.alice });
    expect(report).toEqual({ redeemed: 107, received: 0, requests: 1, spent: [], invalid: [] });
    expect(await client.balance(ACCOUNTS.alice)).toBe(107);
    expect(wallet.balance()).toBe(0);
    expect(new Set(await states(credits))).toEqual(new Set(['spent']));
    // Nothing left: nothing sent.
    expect(await wallet.redeem(client, { to: ACCOUNTS.alice })).toMatchObject({ redeemed: 0, requests: 0 });
  });

  it('in requests of at most 64 credits', async () => {
    const wallet = await Wallet.open(memoryWalletStore());
    const outputs: BlindedOutput[] = [];
    for (let i = 0; i < 70; i++) outputs.push(...(await wallet.prepare(url, 1, 'many')));
    const signatures = [...(await pay(outputs.slice(0, 64))), ...(await pay(outputs.slice(64)))];
    await wallet.receive(url, keyset, signatures, outputs.map((o) => o.B));
    expect(wallet.list()).toHaveLength(70);
    const report = await wallet.redeem(client, { to: ACCOUNTS.many });
    expect(report).toMatchObject({ redeemed: 70, requests: 2 });
    expect(await client.balance(ACCOUNTS.many)).toBe(70);
  });

  it('as a swap gives fresh credits and spends the old ones', async () => {
    const wallet = await paidWallet([77, 3]);
    const old = wallet.list();
    const report = await wallet.redeem(client, { swap: true });
    expect(report).toMatchObject({ redeemed: 80, received: 80, requests: 1, spent: [], invalid: [] });
    expect(wallet.balance()).toBe(80);
    const fresh = wallet.list();
    expect(amounts(fresh)).toEqual([16, 64]);
    const oldXs = new Set(old.map((c) => c.x));
    expect(fresh.some((c) => oldXs.has(c.x))).toBe(false);
    expect(new Set(await states(old))).toEqual(new Set(['spent']));
    expect(new Set(await states(fresh))).toEqual(new Set(['unspent']));
    expect(wallet.snapshot()).toMatchObject({ pending: [], redeems: [] });
    // The fresh credits are good money.
    expect(await wallet.redeem(client, { to: ACCOUNTS.swapper })).toMatchObject({ redeemed: 80 });
    expect(await client.balance(ACCOUNTS.swapper)).toBe(80);
  });

  it('of one token from two wallets: the second finds it spent and drops exactly those credits', async () => {
    const payer = await paidWallet([12]);
    const token = await payer.exportToken();
    const first = await Wallet.open(memoryWalletStore());
    const second = await paidWallet([1, 2]); // credits of its own, in the same keyset
    await first.importToken(token);
    await second.importToken(token);
    expect(second.balance()).toBe(15);

    expect(await first.redeem(client, { to: ACCOUNTS.first })).toMatchObject({ redeemed: 12, spent: [] });
    const report = await second.redeem(client, { to: ACCOUNTS.second });
    expect(amounts(report.spent)).toEqual([4, 8]);
    expect(report).toMatchObject({ redeemed: 3, requests: 1, invalid: [] });
    expect(second.balance()).toBe(0);
    expect(await client.balance(ACCOUNTS.first)).toBe(12);
    expect(await client.balance(ACCOUNTS.second)).toBe(3);
  });

  it('drops a credit the mint finds invalid and redeems the rest', async () => {
    const wallet = await paidWallet([5]);
    const bogus = { keyset: keyset.id, amount: 2, x: nodeCrypto.randomBytes(32), C: keyset.keys.get(2)! };
    await wallet.importToken(encodeToken(url, [bogus]));
    const report = await wallet.redeem(client, { to: ACCOUNTS.picky });
    expect(report.invalid.map((c) => c.x)).toEqual([toHex(bogus.x)]);
    expect(report).toMatchObject({ redeemed: 5, spent: [] });
    expect(wallet.balance()).toBe(0);
  });

  it('sends the same request again after a lost answer, and the mint answers it once', async () => {
    const path = await tempFile('wallet.json');
    await paidWallet([40], new WalletFile(path));
    const bodies: string[] = [];
    // The mint applies the redeem, then the connection drops before the answer arrives.
    const lossy = new MintClient(url, {
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (String(input).endsWith('/v1/redeem')) {
          bodies.push(String(init?.body));
          throw new TypeError('fetch failed: connection reset');
        }
        return res;
      },
    });
    const wallet = await Wallet.open(new WalletFile(path));
    const old = wallet.list();
    const lost = wallet.redeem(lossy, { swap: true });
    await expect(lost).rejects.toThrow('connection reset');
    await expect(lost).rejects.toBeInstanceOf(NetworkError);
    expect(new Set(await states(old))).toEqual(new Set(['spent']));
    // Still held, with the request and its fresh outputs on disk.
    const crashed = readWalletData(JSON.parse(await readFile(path, 'utf8')));
    expect(crashed.credits).toEqual(old);
    expect(crashed.redeems).toHaveLength(1);
    expect(crashed.pending.map((p) => p.amount)).toEqual([32, 8]);

    // A new process, a working connection: the same bytes again, the same signatures back.
    const watched = new MintClient(url, {
      fetch: async (input, init) => {
        if (String(input).endsWith('/v1/redeem')) bodies.push(String(init?.body));
        return fetch(input, init);
      },
    });
    const reopened = await Wallet.open(new WalletFile(path));
    const report = await reopened.redeem(watched, { swap: true });
    expect(bodies).toHaveLength(2);
    expect(bodies[1]).toBe(bodies[0]);
    expect(report).toMatchObject({ redeemed: 40, received: 40, requests: 1, spent: [] });
    expect(reopened.balance()).toBe(40);
    expect(reopened.snapshot()).toMatchObject({ pending: [], redeems: [] });
    expect(new Set(await states(reopened.list()))).toEqual(new Set(['unspent']));
    // The mint issued for the swap once: its books balance.
    expect(m.mint.ledger.checkInvariants()).toEqual([]);
  });

  it('forgets a request the mint refuses for good, keeping the credits', async () => {
    const wallet = await paidWallet([3]);
    // A redeem that goes to a route the mint does not have: NOT_FOUND, for good.
    const astray = new MintClient(url, { fetch: (input, init) => fetch(String(input).replace('/v1/redeem', '/v1/nowhere'), init) });
    const error = await wallet.redeem(astray, { to: ACCOUNTS.x }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'NOT_FOUND' });
    expect(error).toBeInstanceOf(MintError);
    expect(wallet.snapshot()).toMatchObject({ redeems: [] });
    expect(wallet.balance()).toBe(3);
    expect(await wallet.redeem(client, { to: ACCOUNTS.x })).toMatchObject({ redeemed: 3 });
  });
});

// ---- Storage -------------------------------------------------------------------------------

describe('wallet storage', () => {
  const x = 'ab'.repeat(32);
  const good: WalletData = {
    v: 2,
    credits: [{ mint: 'http://127.0.0.1:8300', keyset: '00'.repeat(8), amount: 4, x, C: 'cd'.repeat(32) }],
    pending: [{ mint: 'http://127.0.0.1:8300', amount: 1, x, r: '01'.repeat(32), B: 'ef'.repeat(32), label: 'task/1', created: 1_700_000_000_000 }],
    redeems: [],
  };
  const edit = (f: (d: any) => void) => {
    const d = structuredClone(good) as any;
    f(d);
    return d;
  };

  it('reads what it wrote', () => {
    expect(readWalletData(good)).toEqual(good);
  });

  for (const [name, data, code, field] of [
    ['not an object', [], 'FORMAT', 'data'],
    ['no version', edit((d) => delete d.v), 'FORMAT', 'v'],
    ['a newer version', edit((d) => (d.v = 3)), 'VERSION', 'v'],
    ['a version older than any it migrates', edit((d) => (d.v = 0)), 'VERSION', 'v'],
    ['a pending output without the time it was made', edit((d) => delete d.pending[0].created), 'FORMAT', 'pending[0].created'],
    ['a pending output made at a negative time', edit((d) => (d.pending[0].created = -1)), 'FORMAT', 'pending[0].created'],
    ['no credits list', edit((d) => delete d.credits), 'FORMAT', 'credits'],
    ['an unknown field', edit((d) => (d.extra = 1)), 'FORMAT', 'data.extra'],
    ['a credit with upper-case hex', edit((d) => (d.credits[0].x = x.toUpperCase())), 'FORMAT', 'credits[0].x'],
    ['a credit with a short C', edit((d) => (d.credits[0].C = 'cd')), 'FORMAT', 'credits[0].C'],
    ['a credit of amount 3', edit((d) => (d.credits[0].amount = 3)), 'FORMAT', 'credits[0].amount'],
    ['a credit at a mint that is no URL', edit((d) => (d.credits[0].mint = 'mint')), 'FORMAT', 'credits[0].mint'],
    ['a credit at a mint with a trailing slash', edit((d) => (d.credits[0].mint += '/')), 'FORMAT', 'credits[0].mint'],
    ['a credit with an extra field', edit((d) => (d.credits[0].Y = x)), 'FORMAT', 'credits[0].Y'],
    ['the same credit twice', edit((d) => d.credits.push(d.credits[0])), 'FORMAT', 'credits[1].x'],
    ['a pending output without r', edit((d) => delete d.pending[0].r), 'FORMAT', 'pending[0].r'],
    ['a pending output with a numeric label', edit((d) => (d.pending[0].label = 5)), 'FORMAT', 'pending[0].label'],
    ['a redeem that is not a redeem message', edit((d) => d.redeems.push({ mint: 'http://127.0.0.1:8300', message: 'deadbeef' })), 'FORMAT', 'redeems[0].message'],
  ] as const) {
    it(`refuses data with ${name}`, async () => {
      let error: unknown;
      try {
        readWalletData(data);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(WalletError);
      expect([(error as WalletError).code, (error as WalletError).field]).toEqual([code, field]);
      // Opening such a wallet fails the same way rather than starting empty.
      await expect(Wallet.open(memoryWalletStore(data))).rejects.toBeInstanceOf(WalletError);
    });
  }

  it('keeps a file readable by its owner only, replaced whole, with no temporary files left', async () => {
    const path = await tempFile('wallet.json');
    const file = new WalletFile(path);
    expect(await file.load()).toBeUndefined();
    const wallet = await paidWallet([2], file);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(wallet.snapshot());
    await wallet.prepare(url, 1, 'more');
    expect(await readdir(join(path, '..'))).toEqual(['wallet.json']);
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    await writeFile(path, '{"v": 1, "credits": [');
    const error = await Wallet.open(new WalletFile(path)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ name: 'WalletError', code: 'FORMAT' });
  });
});

describe('wallet versions and expiry', () => {
  const FIXTURE = new URL('../fixtures/wallet/wallet-v1.json', import.meta.url);

  it('migrates a version 1 wallet as it reads it: every pending output counts from then', async () => {
    const old = JSON.parse(await readFile(FIXTURE, 'utf8'));
    const before = structuredClone(old);
    const read = readWalletData(old, 1_800_000_000_000);
    expect(old).toEqual(before);
    expect(read).toEqual({ ...old, v: 2, pending: old.pending.map((p: object) => ({ ...p, created: 1_800_000_000_000 })) });
  });

  it('opens a version 1 file, keeps what it held, and writes it back as version 2 with the next change', async () => {
    const path = await tempFile('wallet.json');
    await writeFile(path, await readFile(FIXTURE, 'utf8'));
    const old = JSON.parse(await readFile(FIXTURE, 'utf8'));
    const label = old.pending[0].label as string;
    const wallet = await Wallet.open(new WalletFile(path));
    expect(wallet.balance()).toBe(4);
    expect(wallet.pendingFor(label).map((p) => p.B)).toEqual(old.pending.map((p: { B: string }) => p.B));
    // Reading changed nothing on disk.
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(old);
    await wallet.prepare(url, 1, 'after the migration');
    const stored = JSON.parse(await readFile(path, 'utf8'));
    expect(stored.v).toBe(2);
    expect(stored.credits).toEqual(old.credits);
    expect(stored.pending.filter((p: { label: string }) => p.label === label)).toHaveLength(2);
  });

  it('takes pay for outputs handed out before the migration', async () => {
    const path = await tempFile('wallet.json');
    const fresh = await Wallet.open(memoryWalletStore());
    const outputs = await fresh.prepare(url, 5, 'task:3:lease');
    // The same outputs as a version 1 wallet wrote them.
    const v1 = { ...fresh.snapshot(), v: 1, pending: fresh.snapshot().pending.map(({ created: _created, ...p }) => p) };
    await writeFile(path, JSON.stringify(v1));
    const wallet = await Wallet.open(new WalletFile(path));
    const earnings = walletEarnings(wallet);
    const signatures = await pay(outputs);
    expect(await earnings.receive(url, 'task:3:lease', { keyset: keyset.id, signatures })).toBe(5);
    // Pay for the same label again adds nothing.
    expect(await earnings.receive(url, 'task:3:lease', { keyset: keyset.id, signatures })).toBe(0);
    expect((await Wallet.open(new WalletFile(path))).balance(url)).toBe(5);
  });

  it('drops pending outputs no pay answered in time, with any change or when asked', async () => {
    let now = 1_000_000;
    const wallet = await Wallet.open(memoryWalletStore(), curve, undefined, { now: () => now, pendingTtlMs: 1000 });
    await wallet.prepare(url, 1, 'old');
    now += 600;
    await wallet.prepare(url, 2, 'newer');
    now += 600;
    expect(wallet.pendingFor('old')).toHaveLength(1);
    // Any change drops what is too old...
    await wallet.prepare(url, 4, 'newest');
    expect(wallet.pendingFor('old')).toEqual([]);
    expect(wallet.pendingFor('newer')).toHaveLength(1);
    // ...and so does asking.
    now += 500;
    expect(await wallet.expirePending()).toBe(1);
    expect(wallet.snapshot().pending.map((p) => p.label)).toEqual(['newest']);
  });

  it('keeps the outputs of a swap still in a redeem request, however old', async () => {
    const id = nodeCrypto.randomBytes(16);
    const redeem = encodeMessage({
      t: 'redeem', v: 1, id, keyset: keyset.id, proofs: [{ amount: 1, x: nodeCrypto.randomBytes(32), C: curve.mulBase(new Uint8Array(32).fill(5)) }],
      outputs: [{ amount: 1, B: curve.mulBase(new Uint8Array(32).fill(6)) }],
    });
    const output = (label: string) => ({ mint: url, amount: 1, x: toHex(nodeCrypto.randomBytes(32)), r: '01'.repeat(32), B: toHex(nodeCrypto.randomBytes(32)), label, created: 0 });
    const data: WalletData = { v: 2, credits: [], pending: [output(`swap:${toHex(id)}`), output('task:1:lease')], redeems: [{ mint: url, message: toHex(redeem) }] };
    const wallet = await Wallet.open(memoryWalletStore(data), curve, undefined, { now: () => 10_000, pendingTtlMs: 1000 });
    expect(await wallet.expirePending()).toBe(1);
    expect(wallet.snapshot().pending.map((p) => p.label)).toEqual([`swap:${toHex(id)}`]);
  });
});

describe('one wallet file, several processes', () => {
  it('keeps every change when two wallets on one file take turns', async () => {
    const path = await tempFile('wallet.json');
    // Two Wallet objects stand for two processes: each has its own view of the file.
    const [a, b] = [await Wallet.open(new WalletFile(path)), await Wallet.open(new WalletFile(path))];
    const outputsA = await a.prepare(url, 8, 'unit/a');
    const outputsB = await b.prepare(url, 4, 'unit/b');
    await a.receive(url, keyset, await pay(outputsA), outputsA.map((o) => o.B));
    await b.receive(url, keyset, await pay(outputsB), outputsB.map((o) => o.B));
    const stored = await Wallet.open(new WalletFile(path));
    expect(stored.balance()).toBe(12);
    expect(stored.pendingFor('unit/a')).toEqual([]);
    expect(stored.pendingFor('unit/b')).toEqual([]);
    // And each sees the other's credits once it changes something.
    await a.prepare(url, 1, 'unit/c');
    expect(a.balance()).toBe(12);
  });

  it('waits for a lock held by a live process, and says BUSY when it waits too long', async () => {
    const path = await tempFile('wallet.json');
    const file = new WalletFile(path);
    const release = await file.lock();
    await expect(file.lock(50)).rejects.toMatchObject({ name: 'WalletError', code: 'BUSY' });
    const waiting = file.lock(5_000);
    await release();
    await (await waiting)();
    expect(await readdir(join(path, '..'))).toEqual([]);
  });

  it('takes over the lock of a process that died holding it', async () => {
    const path = await tempFile('wallet.json');
    // A real process that has exited: its pid names nobody now.
    const child = spawn(process.execPath, ['-e', '']);
    const pid = await new Promise<number>((resolve) => child.once('exit', () => resolve(child.pid!)));
    await writeFile(`${path}.lock`, JSON.stringify({ pid, host: hostname(), at: Date.now() }));
    const wallet = await paidWallet([2], new WalletFile(path));
    expect(wallet.balance()).toBe(2);
    expect(await readdir(join(path, '..'))).toEqual(['wallet.json']);
  });

  it('keeps both processes’ credits when `cycles wallet import` runs while another process holds the wallet', async () => {
    const path = await tempFile('wallet.json');
    const source = await paidWallet([16]);
    const token = await source.exportToken({ amount: 16, mint: url });
    const here = await paidWallet([2], new WalletFile(path));
    // The other process's import has to wait for this lock, then reads what this process saved.
    const file = new WalletFile(path);
    const release = await file.lock();
    const importing = execFileAsync(process.execPath, ['bin/cycles.mjs', 'wallet', 'import', token, '--wallet', path]);
    await new Promise((r) => setTimeout(r, 300));
    await release();
    await importing;
    await here.prepare(url, 1, 'after');
    expect(here.balance()).toBe(18);
    expect((await Wallet.open(new WalletFile(path))).balance()).toBe(18);
  });
});
