// `cycles wallet` and `cycles redeem` as a user runs them: real child
// processes against a real `cycles mint` child, all on 127.0.0.1 and under a
// temporary SPARECYCLES_HOME. The mint accepts deposits from its own admin
// key beside its ledger, which `cycles deposit --key` signs with. A worker's pay
// is made in-process (a tasker's signed payment on the wallet's outputs),
// then moved around by the commands only.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MintClient } from '../../net/mint-client.ts';
import { toHex } from '../../protocol/bytes.ts';
import { nobleCurve } from '../../protocol/credits/curve.ts';
import { decodeToken } from '../../protocol/credits/token.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { signMessage } from '../../protocol/messages/index.ts';
import { WalletFile } from '../../worker/node/wallet-file.ts';
import { Wallet } from '../../worker/wallet.ts';
import { newAccount, spawnMint, type MintProcess } from '../support/mint.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const CYCLES = join(ROOT, 'bin/cycles.mjs');

let home: string;
let mint: MintProcess | undefined;
let url: string;
const tasker = Identity.generate(nodeCrypto);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One `cycles …` run to its end, at most a minute. */
function cycles(...args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CYCLES, ...args],
      { env: { ...process.env, SPARECYCLES_HOME: home }, timeout: 60_000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

const lines = (ran: Ran) => ran.stdout.trim().split('\n');
const file = (name: string) => join(home, name);

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'sc-wallet-cli-'));
  // No --admin: the mint takes deposits from its own admin key, beside its ledger, which `cycles deposit --key` signs with.
  mint = await spawnMint({ db: file('ledger.db'), home });
  url = mint.url;
});

afterAll(async () => {
  await mint?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('cycles wallet and cycles redeem', () => {
  it('show, export, import and redeem credits against a running mint', { timeout: 180_000 }, async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const account = toHex(tasker.publicKey);
    const deposited = await cycles('deposit', '--mint', url, '--account', account, '--amount', '1000', '--key', file('ledger.db-admin.key'));
    expect(deposited).toMatchObject({ code: 0 });
    expect(deposited.stdout).toBe(`${account} 1000\n`);
    // The mint's admin key is its own: no machine-wide key was made, and deposits name no default.
    await expect(stat(file('mint-admin.key'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await cycles('deposit', '--mint', url, '--account', account, '--amount', '1')).code).toBe(2);
    const bob = newAccount();
    const carolAccount = newAccount();
    const malloryAccount = newAccount();
    const workerAccount = newAccount();

    // The worker's pay, into the default wallet ($SPARECYCLES_HOME/wallet.json).
    const client = new MintClient(url);
    const keyset = await client.activeKeyset(nobleCurve);
    const worker = await Wallet.open(new WalletFile(file('wallet.json')));
    const outputs = await worker.prepare(url, 100, 'task/unit-0');
    const paid = await client.pay(
      signMessage(nodeCrypto, tasker.exportSeed(), {
        t: 'payment',
        v: 1,
        id: nodeCrypto.randomBytes(16),
        keyset: keyset.id,
        outputs,
        tasker: tasker.publicKey,
        ts: Date.now(),
      }),
    );
    await worker.receive(url, keyset, paid.signatures, outputs.map((o) => o.B));
    const secrets = worker.list().map((c) => c.x);

    expect(await cycles('wallet', 'balance')).toMatchObject({ code: 0, stdout: `${url} 100\ntotal 100\n` });
    expect(await cycles('wallet', 'balance', '--mint', `${url}/`)).toMatchObject({ code: 0, stdout: '100\n' });
    const listed = await cycles('wallet', 'list');
    expect(lines(listed).map((l) => l.split(' ').slice(0, 3).join(' ')).sort()).toEqual(
      [`${url} ${toHex(keyset.id)} 32`, `${url} ${toHex(keyset.id)} 4`, `${url} ${toHex(keyset.id)} 64`].sort(),
    );
    // Public hashes only: no secret is ever printed.
    for (const x of secrets) expect(listed.stdout).not.toContain(x);

    // Export 36 to a file, readable by its owner only.
    const exported = await cycles('wallet', 'export', '--amount', '36', '--out', file('bob.token'));
    expect(exported).toMatchObject({ code: 0, stdout: `36 ${file('bob.token')}\n` });
    expect((await stat(file('bob.token'))).mode & 0o777).toBe(0o600);
    expect(decodeToken(await readFile(file('bob.token'), 'utf8')).credits.map((c) => c.amount).sort()).toEqual([32, 4].sort());
    expect(await cycles('wallet', 'balance')).toMatchObject({ stdout: `${url} 64\ntotal 64\n` });
    // Never over a file that exists: the credits stay in the wallet.
    expect((await cycles('wallet', 'export', '--amount', '64', '--out', file('bob.token'))).code).toBe(1);
    expect(await cycles('wallet', 'balance')).toMatchObject({ stdout: `${url} 64\ntotal 64\n` });
    // No set of credits makes 5.
    const change = await cycles('wallet', 'export', '--amount', '5');
    expect(change.code).toBe(1);
    expect(change.stderr).toMatch(/^cycles: CHANGE: /);

    // Bob imports the token file into a wallet of his own, and redeems it to an account.
    expect(await cycles('wallet', '--wallet', file('bob.json'), 'import', file('bob.token'))).toMatchObject({ code: 0, stdout: `${url} 36\n` });
    const again = await cycles('wallet', '--wallet', file('bob.json'), 'import', file('bob.token'));
    expect(again).toMatchObject({ code: 0, stdout: `${url} 0\n` });
    expect(again.stderr).toMatch(/2 credit\(s\) of the token were in the wallet already/);
    expect(await cycles('redeem', file('bob.json'), '--mint', url, '--to', bob)).toMatchObject({ code: 0, stdout: `redeemed 36\n${bob} 36\n` });
    expect(await client.balance(bob)).toBe(36);
    expect(await cycles('wallet', '--wallet', file('bob.json'), 'balance')).toMatchObject({ stdout: 'total 0\n' });

    // Carol was handed the same token: spent already, and she is told so.
    const carol = await cycles('redeem', file('bob.token'), '--mint', url, '--to', carolAccount, '--wallet', file('carol.json'));
    expect(carol).toMatchObject({ code: 1, stdout: `redeemed 0\n${carolAccount} 0\nalready-spent 36\n` });
    expect(await cycles('wallet', '--wallet', file('carol.json'), 'balance')).toMatchObject({ stdout: 'total 0\n' });

    // A token swapped for fresh credits, which land in the default wallet.
    const token = (await cycles('wallet', 'export', '--amount', '64')).stdout.trim();
    expect(decodeToken(token).credits.map((c) => c.amount)).toEqual([64]);
    expect(await cycles('wallet', 'balance')).toMatchObject({ stdout: 'total 0\n' });
    expect(await cycles('wallet', '--wallet', file('dave.json'), 'import', token)).toMatchObject({ code: 0, stdout: `${url} 64\n` });
    expect(await cycles('redeem', file('dave.json'), '--mint', url, '--swap')).toMatchObject({ code: 0, stdout: 'redeemed 64\nreceived 64\n' });
    const daveToken = (await cycles('wallet', '--wallet', file('dave.json'), 'export', '--out', file('dave.token'))).stdout;
    expect(daveToken).toBe(`64 ${file('dave.token')}\n`);
    expect(await cycles('redeem', file('dave.token'), '--mint', url, '--swap')).toMatchObject({ code: 0, stdout: 'redeemed 64\nreceived 64\n' });
    expect(await cycles('wallet', 'balance')).toMatchObject({ stdout: `${url} 64\ntotal 64\n` });
    // The swapped token is spent; the wallet's fresh credits are good.
    const retry = await cycles('redeem', file('dave.token'), '--mint', url, '--to', malloryAccount, '--wallet', file('mallory.json'));
    expect(retry).toMatchObject({ code: 1, stdout: `redeemed 0\n${malloryAccount} 0\nalready-spent 64\n` });
    expect(await cycles('redeem', file('wallet.json'), '--mint', url, '--to', workerAccount)).toMatchObject({
      code: 0,
      stdout: `redeemed 64\n${workerAccount} 64\n`,
    });
    expect(await client.balance(workerAccount)).toBe(64);
    // The tasker paid 100; every unit of it ended in an account.
    expect(await client.balance(account)).toBe(900);
  });

  it('refuse wrong calls with their usage, and bad tokens with a typed error', async () => {
    const neither = await cycles('redeem', file('wallet.json'), '--mint', url);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/exactly one of --to ACCOUNT and --swap/);
    expect((await cycles('redeem', file('wallet.json'), '--mint', url, '--to', newAccount(), '--swap')).code).toBe(2);
    // An account is a key, never a name.
    const named = await cycles('redeem', file('wallet.json'), '--mint', url, '--to', 'alice');
    expect(named.code).toBe(2);
    expect(named.stderr).toMatch(/--to: expected an account, the lowercase hex of an ed25519 public key/);
    expect((await cycles('redeem', file('missing.json'), '--mint', url, '--swap')).code).toBe(2);
    expect((await cycles('wallet', 'frobnicate')).code).toBe(2);
    expect((await cycles('wallet', 'list', '--amount', '3')).code).toBe(2);
    const bad = await cycles('wallet', 'import', 'sccredits1!!!');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^cycles: DECODE: token: expected unpadded base64url/);
    const help = await cycles('--help');
    expect(help.stdout).toMatch(/wallet +show, export and import credits/);
    expect(help.stdout).toMatch(/redeem +redeem credits at a mint/);
  });

  it('leave the mint running clean, and it stops on SIGTERM', async () => {
    const health = (await (await fetch(`${url}/health`)).json()) as { ok: boolean; invariants: string[] };
    expect(health).toMatchObject({ ok: true, invariants: [] });
    // SIGTERM, and how it exited: a clean 0, not the SIGKILL that stop() sends one that hangs.
    expect(await mint!.stop()).toEqual([0, null]);
  });
});
