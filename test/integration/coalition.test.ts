// A coalition on a real loopback network: a 512-unit paying task, seven
// honest workers and three colluders (30% of the threads) who hoard leases, share a board,
// announce every unit they hold, wait for a partner to hold it too and then
// both send the same wrong output, computing honestly when alone. The output
// must hold no more wrong units than the verification model allows, and no
// colluder may be paid for a unit it lied about.

import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.ts';
import { wrongUnitBound } from '../../tasker/verify/model.ts';
import { DEFENCE } from '../../tasker/verify/defence.ts';
import { Board, colluding } from '../../testnet/adversaries.ts';
import { Mesh, type MeshWorker } from '../../testnet/mesh.ts';
import { waitFor } from '../../testnet/wait.ts';
import { walletEarnings } from '../../worker/earnings.ts';
import { WalletFile } from '../../worker/node/wallet-file.ts';
import type { UnitRunner } from '../../worker/ports.ts';
import { Wallet } from '../../worker/wallet.ts';
import { makeSpinTask } from '../../bench/bench-task.ts';
import { runLocally } from '../support/local-run.ts';

const UNITS = 512;
const PRICE = 1;
/** Each spin unit's output: its 3-byte input reversed, then the unit byte. */
const OUTPUT_BYTES = 4;

let mesh: Mesh | undefined;
let dir: string | undefined;
afterEach(async () => {
  await mesh?.stop();
  mesh = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a coalition of 30% on a 512-unit task', () => {
  it('gets no more wrong units into the output than the model allows, and is paid only for correct results', async () => {
    dir = await makeSpinTask({ units: UNITS, spin: 0, replication: 2, canaryRate: 0.05, sampleRate: 0.02 });
    const expected = (await runLocally(dir, 0.5)).merged;
    mesh = await Mesh.start({ mint: true });
    const session = await mesh.publish(dir, { pay: { price: PRICE, deposit: UNITS * 4 * PRICE } });
    const paid = new Map<string, Set<number>>();
    session.on('paid', (p) => paid.set(p.worker, (paid.get(p.worker) ?? new Set()).add(p.unit)));

    const board = new Board();
    const lies = new Map<string, Set<number>>();
    const worker = async (pool: UnitRunner = mesh!.pool(0.5)): Promise<MeshWorker & { wallet: Wallet }> => {
      const wallet = await Wallet.open(new WalletFile(join(await mkdtemp(join(mesh!.dir, 'wallet-')), 'wallet.json')));
      return { ...(await mesh!.worker(session.magnet, { pool, earnings: walletEarnings(wallet) })), wallet };
    };
    const colluders = [];
    for (let i = 0; i < 3; i++) {
      const who = `colluder-${i}`;
      const told = new Set<number>();
      lies.set(who, told);
      const flip = (unit: number, output: Uint8Array) => {
        told.add(unit);
        return output.map((b) => b ^ 0x5a);
      };
      // It hoards: its runner claims eight threads, so its engine asks for sixteen leases at a time.
      const ring = colluding(mesh.pool(0.5), board, who, flip, 5000);
      colluders.push({ who, ...(await worker({ size: 8, run: (module, request, timeMs) => ring.run(module, request, timeMs) })) });
    }
    const honest = [];
    for (let i = 0; i < 7; i++) honest.push(await worker());

    const merged = await session.done;
    await session.paymentsSettled();

    // Wrong units in the output, unit by unit.
    expect(merged.length).toBe(UNITS * OUTPUT_BYTES);
    let wrong = 0;
    for (let unit = 0; unit < UNITS; unit++) {
      const at = unit * OUTPUT_BYTES;
      if (Buffer.compare(merged.subarray(at, at + OUTPUT_BYTES), expected.subarray(at, at + OUTPUT_BYTES)) !== 0) wrong++;
    }
    // The ring took part: every colluder held units and waited on the board for a
    // partner. Whether two of them met on a unit is chance (most runs see a few
    // lies); how often lies get through is the simulation's to measure (test/unit/sim.test.ts).
    for (const c of colluders) expect(c.engine.stats.assigned).toBeGreaterThan(0);
    const bound = wrongUnitBound(
      { share: 0.3, identities: colluders.length },
      { units: UNITS, replication: 2, resultsPerUnit: 2.2, catchRate: 0.02, matureAfter: DEFENCE.matureAfter, newcomerCatchRate: DEFENCE.newcomerSample },
    );
    expect(wrong).toBeLessThanOrEqual(Math.floor(bound.perTask));

    // No colluder is paid for a unit it lied about; everyone's wallet holds what the tasker paid it.
    for (const c of colluders) {
      const key = toHex(c.identity.publicKey);
      const lied = lies.get(c.who)!;
      for (const unit of paid.get(key) ?? []) expect(lied.has(unit), `${c.who} paid for unit ${unit} it lied about`).toBe(false);
    }
    const everyone = [...colluders, ...honest];
    await waitFor(
      'every worker holding the pay of every accepted result',
      () => everyone.every((w) => w.engine.stats.pending === 0 && w.wallet.balance(mesh!.net.mint!.url) === (paid.get(toHex(w.identity.publicKey))?.size ?? 0) * PRICE),
      30_000,
    );
    // Honest workers were paid for something, and none of their results was rejected.
    for (const h of honest) {
      expect(h.engine.stats.rejected).toBe(0);
      expect(paid.get(toHex(h.identity.publicKey))?.size ?? 0).toBeGreaterThan(0);
    }
  }, 600_000);
});
