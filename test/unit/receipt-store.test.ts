// The tasker's held receipts on disk (tasker/receipt-store.ts): a file per
// task that a restarted tasker reads back, written whole and atomically, so a
// process killed in the middle of writing leaves every receipt it reported
// kept, and a file that always reads. A file that does not read is refused,
// never written over.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../protocol/bytes.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { SpareCyclesError } from '../../protocol/errors.ts';
import { sealMessage, type Receipt, type Sealed } from '../../protocol/messages/index.ts';
import { ReceiptFile, receiptFileFor } from '../../tasker/receipt-store.ts';
import type { HeldReceipt } from '../../tasker/receipt-outbox.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const TASK = 'cd'.repeat(20);
const seed = nodeCrypto.randomBytes(32);
const tasker = nodeCrypto.ed25519PublicKey(seed);
const worker = toHex(nodeCrypto.randomBytes(32));

function receipt(unit: number, status: 'accepted' | 'rejected' = 'rejected', task = TASK): HeldReceipt {
  const lease = nodeCrypto.randomBytes(16);
  const sealed = sealMessage(nodeCrypto, seed, {
    t: 'receipt', v: 1, task: fromHex(task), unit, lease, status,
    ...(status === 'accepted'
      ? { paid: { keyset: nodeCrypto.randomBytes(8), signatures: [{ amount: 4, C: nodeCrypto.randomBytes(32), e: nodeCrypto.randomBytes(32), s: nodeCrypto.randomBytes(32) }] } }
      : {}),
    tasker,
  }) as Sealed<Receipt>;
  return { worker, lease: toHex(lease), unit, at: 1_700_000_000_000 + unit, sealed };
}

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sc-receipts-'));
  dirs.push(dir);
  return dir;
}

describe('receipt file', () => {
  it('gives a restarted tasker the receipts it held, byte for byte, and forgets what was acknowledged', async () => {
    const dir = await tempDir();
    const path = receiptFileFor(join(dir, 'receipts'), TASK);
    const file = await ReceiptFile.open(path, TASK);
    expect(file.size).toBe(0);
    const held = [receipt(0, 'accepted'), receipt(1), receipt(2, 'accepted')];
    for (const h of held) await file.put(h);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(file.ack(worker, held[1]!.lease)).toBe(true);
    await file.flush();

    const again = await ReceiptFile.open(path, TASK);
    expect(again.size).toBe(2);
    const loaded = again.held(worker);
    expect(loaded.map((h) => [h.unit, h.lease, h.at, toHex(h.sealed.bytes)])).toEqual(
      [held[0]!, held[2]!].map((h) => [h.unit, h.lease, h.at, toHex(h.sealed.bytes)]),
    );
    expect(loaded[0]!.sealed.message.paid?.signatures).toHaveLength(1);
    // Nothing but the file is left in its folder.
    expect(await readdir(join(dir, 'receipts'))).toEqual([`${TASK}.json`]);
  });

  it('removes the file once nothing is held', async () => {
    const dir = await tempDir();
    const path = join(dir, `${TASK}.json`);
    const file = await ReceiptFile.open(path, TASK);
    const h = receipt(3);
    await file.put(h);
    file.ack(worker, h.lease);
    await file.flush();
    expect(await readdir(dir)).toEqual([]);
    expect((await ReceiptFile.open(path, TASK)).size).toBe(0);
  });

  it('writes changes made together in one go, and keeps each of them', async () => {
    const dir = await tempDir();
    const path = join(dir, `${TASK}.json`);
    const file = await ReceiptFile.open(path, TASK);
    const held = Array.from({ length: 50 }, (_, i) => receipt(i));
    await Promise.all(held.map((h) => file.put(h)));
    for (const h of held.slice(0, 10)) file.ack(worker, h.lease);
    await file.flush();
    const again = await ReceiptFile.open(path, TASK);
    expect(again.held(worker).map((h) => h.unit)).toEqual(held.slice(10).map((h) => h.unit));
  });

  it('loses no receipt it reported kept, and never leaves a file that does not read, when its process is killed mid-write', async () => {
    const dir = await tempDir();
    const path = join(dir, `${TASK}.json`);
    let kept = -1;
    // Killed after a different number of receipts each time: somewhere in a write, between writes, or in a rename.
    for (const after of [3, 17, 40]) {
      const child = spawn(process.execPath, [`${ROOT}bin/run-ts.mjs`, `${ROOT}test/support/receipt-writer.ts`, path, TASK, toHex(seed)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = once(child, 'exit');
      const lines = createInterface({ input: child.stdout! });
      let count = 0;
      for await (const line of lines) {
        kept = Math.max(kept, Number(line));
        if (++count >= after) break;
      }
      child.kill('SIGKILL');
      await exited;
      const file = await ReceiptFile.open(path, TASK);
      // Every receipt the writer said was kept is there, each still the receipt it was filed as.
      expect(file.size).toBeGreaterThanOrEqual(kept + 1);
      // Leftover temporary files of an interrupted write are not the file, and do not stop the next one.
      expect((await readdir(dir)).filter((f) => !f.endsWith('.tmp'))).toEqual([`${TASK}.json`]);
    }
  }, 60_000);

  it('refuses a file that does not read, and leaves it as it was', async () => {
    const dir = await tempDir();
    const path = join(dir, `${TASK}.json`);
    const good = receipt(5);
    const entry = { worker, lease: good.lease, unit: 5, at: 1, receipt: toHex(good.sealed.bytes) };
    const other = receipt(6, 'rejected', 'ef'.repeat(20));
    for (const [name, text, field] of [
      ['not JSON', '{"v": 1, "task": ', 'file'],
      ['a newer version', JSON.stringify({ v: 2, task: TASK, receipts: [] }), 'v'],
      ['another task', JSON.stringify({ v: 1, task: 'ef'.repeat(20), receipts: [] }), 'task'],
      ['a receipt that is not hex', JSON.stringify({ v: 1, task: TASK, receipts: [{ ...entry, receipt: 'zz' }] }), 'receipts[0].receipt'],
      ['a receipt that does not decode', JSON.stringify({ v: 1, task: TASK, receipts: [{ ...entry, receipt: 'deadbeef' }] }), 'receipts[0].receipt'],
      ['a receipt filed under another lease', JSON.stringify({ v: 1, task: TASK, receipts: [{ ...entry, lease: '00'.repeat(16) }] }), 'receipts[0].receipt'],
      ['a receipt of another task', JSON.stringify({ v: 1, task: TASK, receipts: [{ ...entry, lease: other.lease, unit: 6, receipt: toHex(other.sealed.bytes) }] }), 'receipts[0].receipt'],
      ['a short worker key', JSON.stringify({ v: 1, task: TASK, receipts: [{ ...entry, worker: 'ab' }] }), 'receipts[0].worker'],
    ] as const) {
      await writeFile(path, text);
      const error = await ReceiptFile.open(path, TASK).then(() => undefined, (e: unknown) => e);
      expect(error, name).toBeInstanceOf(SpareCyclesError);
      expect([(error as SpareCyclesError).code, (error as SpareCyclesError).field], name).toEqual(['FORMAT', field]);
      expect(await readFile(path, 'utf8'), name).toBe(text);
    }
  });
});
