// Deposits: bound to one mint and a time window, answered again when retried
// whatever changed since, and signed by each mint's own admin key. Real HTTP
// on 127.0.0.1 and real ledgers; `cycles mint` as a child process where its
// default admin key is what is tested.

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Mint } from '../../mint/mint.ts';
import { MintServer } from '../../mint/server.ts';
import { MintClient } from '../../net/mint-client.ts';
import { fromHex, toHex } from '../../protocol/bytes.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { DEPOSIT_WINDOW_MS } from '../../protocol/mint-api.ts';
import type { LogLine } from '../../serve/log.ts';
import { bodyOf, depositMessage, errorOf, ledgerSnapshot, newAccount, newId, post, spawnMint, tempDir } from '../support/mint.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function folder(): Promise<string> {
  const { dir, rm } = await tempDir();
  cleanups.push(rm);
  return dir;
}

/** A mint over the ledger `db`, taking deposits from `admins`, on a clock that may be the test's. */
async function serve(db: string, admins: Identity[], now?: () => number) {
  const lines: LogLine[] = [];
  const mint = await Mint.open({ db, admins: admins.map((a) => a.publicKey), ...(now ? { now } : {}) });
  const server = new MintServer({ mint, log: (l) => lines.push(l) });
  await server.start();
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= server.stop().then(() => mint.close()));
  cleanups.push(stop);
  return { mint, server, url: server.url, client: new MintClient(server.url, { timeoutMs: 30_000 }), lines, stop };
}

describe('a deposit', () => {
  it('retried after the admin keys changed, or after its window, gets the answer it got; a new one from the old key is refused', async () => {
    const db = join(await folder(), 'ledger.db');
    const alice = Identity.generate(nodeCrypto);
    const bob = Identity.generate(nodeCrypto);
    const account = newAccount();

    const first = await serve(db, [alice]);
    const deposit = depositMessage(alice, first.mint.id, account, 50);
    const answered = await post(first.url, '/v1/deposit', bodyOf(deposit));
    expect(answered.status).toBe(200);
    await first.stop();

    // The operator replaced alice's key with bob's; the answer to alice's deposit was lost, and it is sent again.
    const second = await serve(db, [bob]);
    const before = ledgerSnapshot(db);
    const retry = await post(second.url, '/v1/deposit', bodyOf(deposit));
    expect([retry.status, retry.text]).toEqual([200, answered.text]);
    expect(ledgerSnapshot(db)).toBe(before);
    expect(await second.client.balance(account)).toBe(50);
    // Anything new from alice's key is refused.
    const fresh = await post(second.url, '/v1/deposit', bodyOf(depositMessage(alice, second.mint.id, account, 50)));
    expect([fresh.status, errorOf(fresh)?.code]).toEqual([403, 'UNAUTHORIZED']);
    await second.stop();

    // An hour on, far outside the window: the retry is still answered, a new deposit is STALE.
    const later = await serve(db, [bob], () => Date.now() + 60 * 60 * 1000);
    const late = await post(later.url, '/v1/deposit', bodyOf(deposit));
    expect([late.status, late.text]).toEqual([200, answered.text]);
    const stale = await post(later.url, '/v1/deposit', bodyOf(depositMessage(bob, later.mint.id, account, 50)));
    expect([stale.status, errorOf(stale)]).toEqual([403, expect.objectContaining({ code: 'STALE', field: 'ts' })]);
    expect(await later.client.balance(account)).toBe(50);
    expect(later.mint.ledger.checkInvariants()).toEqual([]);
    for (const s of [first, second, later]) expect(s.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('replayed to a second mint that trusts the same admin key is refused WRONG_MINT there', async () => {
    const dir = await folder();
    const admin = Identity.generate(nodeCrypto);
    const one = await serve(join(dir, 'one.db'), [admin]);
    const two = await serve(join(dir, 'two.db'), [admin]);
    // Each ledger made its own id, and each mint publishes it.
    expect(toHex(one.mint.id)).not.toBe(toHex(two.mint.id));
    expect(await one.client.info()).toEqual({ mint: toHex(one.mint.id), depositWindowMs: DEPOSIT_WINDOW_MS });
    expect((await two.client.info()).mint).toBe(toHex(two.mint.id));

    const account = newAccount();
    const deposit = depositMessage(admin, one.mint.id, account, 70);
    expect(await one.client.deposit(deposit)).toEqual({ account, amount: 70 });
    const before = ledgerSnapshot(join(dir, 'two.db'));
    const replay = await post(two.url, '/v1/deposit', bodyOf(deposit));
    expect(replay.status).toBe(403);
    expect(errorOf(replay)).toMatchObject({ code: 'WRONG_MINT', field: 'mint' });
    await expect(two.client.deposit(deposit)).rejects.toMatchObject({ name: 'MintError', code: 'WRONG_MINT' });
    expect(ledgerSnapshot(join(dir, 'two.db'))).toBe(before);
    expect(await two.client.balance(account)).toBeUndefined();
    expect(await one.client.balance(account)).toBe(70);
    expect(two.mint.ledger.refusals()).toEqual([{ kind: 'deposit', outcome: 'WRONG_MINT', n: 2 }]);
  });

  it('is good within the window around its ts and STALE outside it, either way', async () => {
    const db = join(await folder(), 'ledger.db');
    const admin = Identity.generate(nodeCrypto);
    const now = Date.UTC(2030, 5, 1);
    const s = await serve(db, [admin], () => now);
    const account = newAccount();
    const at = (ts: number) => post(s.url, '/v1/deposit', bodyOf(depositMessage(admin, s.mint.id, account, 1, newId(), ts)));
    for (const ts of [now - DEPOSIT_WINDOW_MS, now, now + DEPOSIT_WINDOW_MS]) expect((await at(ts)).status).toBe(200);
    for (const ts of [now - DEPOSIT_WINDOW_MS - 1, now + DEPOSIT_WINDOW_MS + 1, 0]) {
      const refused = await at(ts);
      expect([refused.status, errorOf(refused)?.code, errorOf(refused)?.field]).toEqual([403, 'STALE', 'ts']);
    }
    expect(await s.client.balance(account)).toBe(3);
  });

  it('to a name rather than a key is refused with a typed error, at the client and at the mint', async () => {
    const s = await serve(join(await folder(), 'ledger.db'), [Identity.generate(nodeCrypto)]);
    await expect(s.client.balance('alice')).rejects.toMatchObject({ code: 'SCHEMA', field: 'account' });
    expect(() => depositMessage(Identity.generate(nodeCrypto), s.mint.id, 'alice', 1)).toThrow(expect.objectContaining({ code: 'SCHEMA', field: 'account' }));
  });
});

describe('`cycles mint` without --admin', () => {
  it('makes each mint an admin key of its own beside its ledger, and none for the machine', { timeout: 120_000 }, async () => {
    const home = await folder();
    const one = await spawnMint({ db: join(home, 'one.db'), home });
    cleanups.push(() => one.stop());
    const two = await spawnMint({ db: join(home, 'two.db'), home });
    cleanups.push(() => two.stop());
    const keyOf = async (db: string) => Identity.fromSeed(nodeCrypto, fromHex((await readFile(`${db}-admin.key`, 'utf8')).trim()));
    const adminOne = await keyOf(join(home, 'one.db'));
    const adminTwo = await keyOf(join(home, 'two.db'));
    expect(toHex(adminOne.publicKey)).not.toBe(toHex(adminTwo.publicKey));
    expect((await stat(join(home, 'one.db-admin.key'))).mode & 0o777).toBe(0o600);
    await expect(stat(join(home, 'mint-admin.key'))).rejects.toMatchObject({ code: 'ENOENT' });

    const clientOne = new MintClient(one.url, { timeoutMs: 30_000 });
    const clientTwo = new MintClient(two.url, { timeoutMs: 30_000 });
    const idTwo = fromHex((await clientTwo.info()).mint);
    const account = newAccount();
    // Mint one's key deposits at mint one; at mint two it is no admin, even for a deposit made out to mint two.
    await clientOne.deposit(depositMessage(adminOne, fromHex((await clientOne.info()).mint), account, 5));
    await expect(clientTwo.deposit(depositMessage(adminOne, idTwo, account, 5))).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await clientTwo.deposit(depositMessage(adminTwo, idTwo, account, 6));
    expect([await clientOne.balance(account), await clientTwo.balance(account)]).toEqual([5, 6]);
  });
});
