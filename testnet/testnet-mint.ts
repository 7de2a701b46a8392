// The one in-process mint of the loopback harness, for the testnet, the demo
// and the tests that need a mint: a real ledger (SQLite) in a folder, a real
// HTTP server on 127.0.0.1 with a free port, and an admin key of its own, so
// the caller can fund accounts the way a mint operator would. A mint in a
// child process (`cycles mint`), for crash tests, is test code and lives in
// test/support/mint.ts.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MintClient } from '../net/mint-client.ts';
import { Mint } from '../mint/mint.ts';
import { MintServer } from '../mint/server.ts';
import type { BudgetOptions } from '../mint/work.ts';
import type { Logger, LogLine } from '../serve/log.ts';
import { toHex } from '../protocol/bytes.ts';
import type { CreditCurve } from '../protocol/credits/curve.ts';
import type { PublicKeyset } from '../protocol/credits/keyset.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { signMessage, type MessageOf } from '../protocol/messages/index.ts';

export interface TestMintOptions {
  /** Also receives every line the server logs (they are all kept in `lines` regardless). */
  log?: Logger;
  /** The ristretto255 backend; the mint's default (libsodium) otherwise. */
  curve?: CreditCurve;
  /**
   * The folder for the ledger file. The caller owns it, so it outlives stop()
   * (a test can read the ledger after the mint is gone). Without one, the mint
   * makes a temporary folder and stop() removes it.
   */
  dir?: string;
  /**
   * The work budget of each client address. Every client of a loopback
   * testnet shares 127.0.0.1, so by default it is large enough to be no limit.
   */
  budget?: BudgetOptions;
}

const LOOPBACK_BUDGET: BudgetOptions = { perMinute: 60_000_000, burst: 10_000_000 };

export interface TestMint {
  url: string;
  /** The folder the ledger lives in. */
  dir: string;
  /** The ledger's SQLite file. */
  db: string;
  /** The key whose signature the mint takes for deposits. */
  admin: Identity;
  curve: CreditCurve;
  mint: Mint;
  server: MintServer;
  /** A client of this mint, with a deadline generous enough for a loaded machine. */
  client: MintClient;
  /** The active keyset, as a client fetches it. */
  keyset: PublicKeyset;
  /** Every line the server logged, so a test can fail on any at level 'error'. */
  lines: LogLine[];
  /** Credits an account (a public key, or its hex) by a deposit the admin signs. */
  fund(account: Uint8Array | string, amount: number): Promise<void>;
  /** Stops the server and closes the ledger; removes the folder if the mint made it. Safe to call more than once. */
  stop(): Promise<void>;
}

/** A deposit of `amount` to `account` at the mint whose id is `mint`, signed by `admin`: what a mint operator sends. */
export function depositMessage(
  admin: Identity,
  mint: Uint8Array,
  account: string,
  amount: number,
  id = nodeCrypto.randomBytes(16),
  ts = Date.now(),
): MessageOf<'deposit'> {
  return signMessage(nodeCrypto, admin.exportSeed(), { t: 'deposit', v: 2, id, mint, account, amount, admin: admin.publicKey, ts });
}

export async function startTestMint(options: TestMintOptions = {}): Promise<TestMint> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'sc-mint-')));
  const removeDir = () => (ownDir ? rm(dir, { recursive: true, force: true }) : Promise.resolve());
  const db = join(dir, 'ledger.db');
  const admin = Identity.generate(nodeCrypto);
  const lines: LogLine[] = [];
  const log: Logger = (line) => {
    lines.push(line);
    options.log?.(line);
  };
  let mint: Mint | undefined;
  let server: MintServer | undefined;
  const close = async () => {
    await server?.stop();
    await mint?.close();
  };
  try {
    mint = await Mint.open({ db, admins: [admin.publicKey], ...(options.curve ? { curve: options.curve } : {}) });
    server = new MintServer({ mint, port: 0, host: '127.0.0.1', log, budget: options.budget ?? LOOPBACK_BUDGET });
    await server.start();
    const client = new MintClient(server.url, { timeoutMs: 30_000 });
    const keyset = await client.activeKeyset(mint.curve);
    let stopping: Promise<void> | undefined;
    return {
      url: server.url,
      dir,
      db,
      admin,
      curve: mint.curve,
      mint,
      server,
      client,
      keyset,
      lines,
      async fund(account, amount) {
        await client.deposit(depositMessage(admin, mint!.id, typeof account === 'string' ? account : toHex(account), amount));
      },
      stop() {
        stopping ??= close().finally(removeDir);
        return stopping;
      },
    };
  } catch (error) {
    await close().catch(() => {});
    await removeDir();
    throw error;
  }
}
