import { mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultKeyFile, loadOrCreateIdentity } from '../store/keys.ts';
import { jsonLogger } from '../serve/log.ts';
import { namedFile, seedBuffers } from '../net/torrent-files.ts';
import { TorrentClient } from '../net/torrent-client.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { signManifest } from '../protocol/manifest.ts';
import { mergedFileName } from '../tasker/merge.ts';
import type { OnionClient } from '../net/onion-client.ts';
import { RendezvousHost } from '../net/onion-stream.ts';
import { toHex } from '../protocol/bytes.ts';
import { onionClientFor, parseRelays, relayOptions, relayViewFor } from './onion-args.ts';
import { announceOffer } from '../tasker/announce-offer.ts';
import type { OfferPublisher } from '../tasker/offer-publisher.ts';
import { Payer } from '../tasker/payer.ts';
import { defaultReceiptDir, ReceiptFile, receiptFileFor } from '../tasker/receipt-store.ts';
import { TaskerSession } from '../tasker/session.ts';
import { loadTaskDir } from '../tasker/task-dir.ts';
import { nodeUnitPool } from '../units/node/node-thread.ts';
import { networkArgs, networkOptions } from './network-args.ts';
import { progress } from './progress.ts';
import { UsageError, parseCpu } from './usage.ts';
import { stopSignal } from './signals.ts';

/** How long `--exit` waits for workers to acknowledge the receipts (and so the pay) sent to them. */
const HELD_RECEIPTS_WAIT_MS = 30_000;

export const usage =
  'cycles publish <task-dir> [--tracker URL]… [--dht-bootstrap host:port,…] [--relay ws://…]… [--mint URL] [--out FILE] [--key FILE] [--cpu 0.5] [--receipts DIR] [--exit] [--json]';

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...networkOptions,
      ...relayOptions,
      out: { type: 'string' },
      key: { type: 'string' },
      mint: { type: 'string' },
      cpu: { type: 'string' },
      receipts: { type: 'string' },
      exit: { type: 'boolean' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean' },
    },
  });
  const dir = positionals[0];
  if (!dir || positionals.length > 1) throw new UsageError(`usage: ${usage}`);
  const net = networkArgs(values);
  const relays = parseRelays(values);
  const backend = nodeCrypto;
  const log = jsonLogger(process.stderr, values.verbose ? 'debug' : 'warn');
  const emit = (event: Record<string, unknown>) => {
    if (values.json) process.stdout.write(`${JSON.stringify(event)}\n`);
  };

  const identity = await loadOrCreateIdentity(backend, values.key ?? defaultKeyFile('tasker'));
  const task = await loadTaskDir(backend, dir, { tasker: identity.publicKey });
  if (values.mint !== undefined) {
    if (!/^https?:\/\/\S+$/.test(values.mint)) throw new UsageError(`--mint: expected an http(s):// URL, got ${values.mint}`);
    task.body.mint = values.mint;
  }
  const manifest = signManifest(backend, identity.exportSeed(), task.body);
  const payer = await connectPayer(backend, identity, manifest.mint, manifest.price, manifest.units);
  const cpu = parseCpu(values.cpu ?? String(1 / cpus().length));
  const storage = await mkdtemp(join(tmpdir(), 'sparecycles-publish-'));
  // Receipts not yet acknowledged outlive this process (a file per task): a tasker started again on the same task still delivers the pay it made.
  const receipts = values.receipts ?? defaultReceiptDir();
  const stop = stopSignal();
  const torrents = new TorrentClient(backend, { dht: net.dht, loopback: net.loopback, path: storage });
  // The tasker's own threads run canaries, tiebreaks and samples, not the bulk.
  const pool = nodeUnitPool(cpu);
  let session: TaskerSession | undefined;
  let offers: OfferPublisher | undefined;
  let onion: OnionClient | undefined;
  let rendezvous: RendezvousHost | undefined;
  try {
    await torrents.start();
    const client = torrents.client;
    session = await TaskerSession.start(
      {
        backend,
        identity,
        client,
        pool,
        trackers: net.trackers,
        storage,
        log,
        openOutbox: (task, dropped) => ReceiptFile.open(receiptFileFor(receipts, task), task, { dropped }),
        ...(payer ? { payer } : {}),
        // On a loopback network every worker shares 127.0.0.1: each connection stands for a host of its own.
        ...(net.loopback ? { groupOf: (peer: string) => peer } : {}),
      },
      task,
      manifest,
    );
    if (values.json) emit({ event: 'magnet', magnet: session.magnet, infoHash: session.infoHash });
    else process.stdout.write(`${session.magnet}\n`);
    if (relays.length > 0) {
      // Stealth workers reach the task at a rendezvous kept at one of the relays; direct ones on the swarm, as ever.
      onion = onionClientFor(backend, await relayViewFor({ backend, relays, dht: client.dht, loopback: net.loopback }));
      rendezvous = await openRendezvous(backend, onion, session);
      emit({ event: 'rendezvous', relay: toHex(rendezvous.rendezvous.relay), mailbox: toHex(rendezvous.rendezvous.mailbox) });
    }
    offers = await announceOffer(
      backend,
      session,
      client.dht,
      net.loopback ? '127.0.0.1' : '0.0.0.0',
      log,
      stop.signal,
      rendezvous?.rendezvous,
    );
    if (offers) emit({ event: 'offer', port: offers.port });

    const bar = progress(manifest.name);
    session.on('progress', (p) => {
      if (values.json) emit({ event: 'progress', ...p });
      else bar.update(p.verified, p.units, `verified, ${p.outstanding} out`);
    });
    session.on('result', (r) => emit({ event: 'result', ...r }));
    session.on('verdict', (r) => emit({ event: 'verdict', ...r }));
    session.on('paid', (p) => emit({ event: 'paid', ...p }));
    let lastLeft = manifest.units;
    session.on('progress', (p) => {
      // Re-signing and re-putting the offer on every unit would flood the DHT.
      const left = p.units - p.verified;
      if (offers && (left === 0 || lastLeft - left >= Math.max(1, p.units / 10))) {
        lastLeft = left;
        offers.update({ left }).catch((error: Error) => {
          if (offers) log({ level: 'warn', event: 'offer-update-failed', message: error.message });
        });
      }
    });
    // A signal before the end stops the task where it is: the magnet stays valid for a later run.
    const merged = await Promise.race([session.done, stop.received.then(() => undefined)]);
    if (merged === undefined) return 0;
    // Workers whose last units were just accepted get their pay before anything stops.
    await session.paymentsSettled();
    bar.finish();
    if (payer) {
      const { payments, credits, failures } = payer.stats;
      emit({ event: 'payments', payments, credits, failures });
      if (!values.json) process.stderr.write(`paid ${credits} credits for ${payments} units (${failures} failed) at ${payer.mint}\n`);
    }

    const out = values.out ?? mergedFileName(manifest);
    await writeFile(out, merged);
    const output = await seedBuffers(client, `sc-output-${manifest.name}`, [namedFile(mergedFileName(manifest), merged)], {
      trackers: net.trackers,
      path: storage,
    });
    if (values.json) emit({ event: 'done', out, bytes: merged.length, magnet: output.magnetURI });
    else {
      process.stderr.write(`wrote ${out} (${merged.length} bytes); output torrent:\n`);
      process.stdout.write(`${output.magnetURI}\n`);
    }
    if (!values.exit) {
      process.stderr.write('seeding the task and its output; Ctrl-C to stop\n');
      await stop.received;
    } else if (session.heldReceipts > 0) {
      // Receipts (and the pay in them) not acknowledged yet: give their workers a while to come back for them.
      emit({ event: 'waiting-for-workers', receipts: session.heldReceipts });
      if (!values.json) process.stderr.write(`waiting up to ${HELD_RECEIPTS_WAIT_MS / 1000} s for workers to collect ${session.heldReceipts} receipt(s)\n`);
      await Promise.race([session.receiptsDelivered(HELD_RECEIPTS_WAIT_MS), stop.received]);
    }
    return 0;
  } finally {
    const publisher = offers;
    offers = undefined;
    await publisher?.stop();
    rendezvous?.stop();
    onion?.stop();
    await session?.stop();
    await pool.stop();
    await torrents.stop();
    if (stop.signal.aborted) {
      if (values.json) emit({ event: 'stopped' });
      else process.stderr.write('stopped\n');
    }
  }
}

/** A rendezvous at the best-ranked relay in the view that keeps mailboxes. */
async function openRendezvous(backend: CryptoBackend, onion: OnionClient, session: TaskerSession): Promise<RendezvousHost> {
  const candidates = onion.view.ranking().filter((e) => e.descriptor.exit.mailboxes);
  if (candidates.length === 0) throw new UsageError('--relay: no relay given or found keeps rendezvous mailboxes (they must forward onion packets)');
  let last: Error | undefined;
  for (const entry of candidates.slice(0, 3)) {
    try {
      return await RendezvousHost.open({ backend, client: onion, relay: entry.descriptor.key }, session.frames);
    } catch (error) {
      last = error as Error;
      onion.view.reportFailure(entry.id);
    }
  }
  throw new UsageError(`--relay: no relay would keep the rendezvous: ${last?.message}`);
}

/**
 * A payer when the task pays at a mint. The deposit must cover at least one
 * paid result per unit; replication pays more, so a thin deposit only warns.
 */
async function connectPayer(
  backend: CryptoBackend,
  identity: Identity,
  mint: string | undefined,
  price: number,
  units: number,
): Promise<Payer | undefined> {
  if (!mint || price === 0) return undefined;
  let payer: Payer;
  let balance: number;
  try {
    payer = await Payer.connect({ backend, identity, mint, price });
    balance = (await payer.balance()) ?? 0;
  } catch (error) {
    throw new UsageError(`the task pays at ${mint}, but the mint could not be asked: ${(error as Error).message}`);
  }
  if (balance < price * units) {
    throw new UsageError(
      `the account ${payer.account} holds ${balance} credits at ${mint}; ${units} units at ${price} need at least ${price * units}` +
        ' (a mint operator funds it with `cycles deposit`)',
    );
  }
  return payer;
}
