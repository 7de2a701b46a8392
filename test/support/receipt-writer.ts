// A tasker process that only keeps receipts: it puts signed receipts into a
// receipt file one after another, and prints the number of each once it is
// durable. test/unit/receipt-store.test.ts kills it mid-write.
//
//   node bin/run-ts.mjs test/support/receipt-writer.ts <file> <task hex> <seed hex>

import { fromHex, toHex } from '../../protocol/bytes.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { sealMessage, type Receipt, type Sealed } from '../../protocol/messages/index.ts';
import { ReceiptFile } from '../../tasker/receipt-store.ts';

const [path, task, seedHex] = process.argv.slice(2) as [string, string, string];
const seed = fromHex(seedHex);
const tasker = nodeCrypto.ed25519PublicKey(seed);
const worker = toHex(nodeCrypto.randomBytes(32));
const file = await ReceiptFile.open(path, task, { limits: { perWorker: 100_000, total: 100_000, maxAgeMs: 1e12 } });
for (let unit = 0; ; unit++) {
  const lease = nodeCrypto.randomBytes(16);
  const sealed = sealMessage(nodeCrypto, seed, {
    t: 'receipt', v: 1, task: fromHex(task), unit, lease, status: 'rejected', reason: 'x'.repeat(100), tasker,
  }) as Sealed<Receipt>;
  await file.put({ worker, lease: toHex(lease), unit, at: Date.now(), sealed });
  process.stdout.write(`${unit}\n`);
}
