// A mint for the loopback network: a real ledger in a temporary folder, a
// real HTTP server on 127.0.0.1, and an admin key of its own, so tests and
// the demo can fund taskers' accounts the way a mint operator would.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MintClient } from '../net/mint-client.ts';
import { Mint } from '../mint/mint.ts';
import { MintServer } from '../mint/server.ts';
import { silentLogger, type Logger } from '../serve/log.ts';
import { toHex } from '../protocol/bytes.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { signMessage } from '../protocol/messages/index.ts';

export interface TestMint {
  url: string;
  mint: Mint;
  client: MintClient;
  /** Credits an account by a deposit the testnet's admin signs. */
  fund(account: Uint8Array | string, amount: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestMint(options: { log?: Logger } = {}): Promise<TestMint> {
  const dir = await mkdtemp(join(tmpdir(), 'sc-mint-'));
  const admin = Identity.generate(nodeCrypto);
  const mint = await Mint.open({ db: join(dir, 'ledger.db'), admins: [admin.publicKey] });
  let server: MintServer;
  try {
    server = await MintServer.start({ mint, log: options.log ?? silentLogger });
  } catch (error) {
    await mint.close();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const client = new MintClient(server.url);
  return {
    url: server.url,
    mint,
    client,
    async fund(account, amount) {
      await client.deposit(
        signMessage(nodeCrypto, admin.exportSeed(), {
          t: 'deposit',
          v: 1,
          id: nodeCrypto.randomBytes(16),
          account: typeof account === 'string' ? account : toHex(account),
          amount,
          admin: admin.publicKey,
          ts: Date.now(),
        }),
      );
    },
    async stop() {
      await server.close();
      await mint.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
