import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type DHT from 'bittorrent-dht';
import { dhtReady } from '../net/dht.ts';
import { defaultKeyFile, loadOrCreateIdentity } from '../store/keys.ts';
import { TorrentClient } from '../net/torrent-client.ts';
import { toHex } from '../protocol/bytes.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { WorkerEngine } from '../worker/engine.ts';
import { walletEarnings } from '../worker/earnings.ts';
import { Wallet } from '../worker/wallet.ts';
import { defaultWalletFile, WalletFile } from '../worker/node/wallet-file.ts';
import { nodeUnitPool } from '../units/node/node-thread.ts';
import { findOffers, magnetForOffer } from '../net/offer-finder.ts';
import { nodeTorrentPort } from '../worker/node/torrent-port.ts';
import { networkArgs, networkOptions } from './network-args.ts';
import type { MintClient } from '../net/mint-client.ts';
import type { OnionClient } from '../net/onion-client.ts';
import { OnionMint } from '../net/onion-mint.ts';
import { keepStream, type Rendezvous } from '../net/onion-stream.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { onionClientFor, parseRelays, relayOptions, relayViewFor } from './onion-args.ts';
import { pause, stopSignal } from './signals.ts';
import { UsageError, parseCpu } from './usage.ts';
import { WorkerControl } from './worker-control.ts';

export const usage =
  'cycles worker [--magnet M] [--stealth [--task-swarm]] [--relay ws://…]… [--cpu 0.5] [--tracker URL]… [--dht-bootstrap host:port,…] [--key FILE] [--wallet FILE] [--control SOCKET] [--json]';

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...networkOptions,
      ...relayOptions,
      magnet: { type: 'string' },
      stealth: { type: 'boolean' },
      'task-swarm': { type: 'boolean' },
      cpu: { type: 'string' },
      key: { type: 'string' },
      wallet: { type: 'string' },
      control: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length) throw new UsageError(`usage: ${usage}`);
  const net = networkArgs(values);
  const relays = parseRelays(values);
  const stealth = values.stealth === true;
  if (stealth && values.magnet) throw new UsageError('cycles worker --stealth: the task comes from an offer that names a rendezvous; --magnet has none');
  if (values['task-swarm'] && !stealth) throw new UsageError('cycles worker --task-swarm: only a stealth worker fetches its task any other way than from the swarm');
  if (stealth && values.key) throw new UsageError('cycles worker --stealth: a stealth worker takes a fresh key for every task; --key does not apply');
  const backend = nodeCrypto;
  const print = (event: Record<string, unknown>, text: string) =>
    process.stdout.write(values.json ? `${JSON.stringify(event)}\n` : `${text}\n`);

  // A stealth worker's key is its task's alone, so nothing ties its tasks (or their pay) together.
  const identity = stealth ? Identity.generate(backend) : await loadOrCreateIdentity(backend, values.key ?? defaultKeyFile('worker'));
  // Pay from tasks that pay lands here; `cycles wallet` shows it and `cycles redeem` spends it.
  const walletPath = values.wallet ?? defaultWalletFile();
  const wallet = await Wallet.open(new WalletFile(walletPath));
  const cpu = parseCpu(values.cpu ?? '0.5');
  if (!values.magnet && net.dht === false) throw new UsageError('cycles worker: without --magnet the worker needs the DHT to find offers');
  const storage = await mkdtemp(join(tmpdir(), 'sparecycles-worker-'));
  const pool = nodeUnitPool(cpu);
  // The local control API (docs/control-api.md): `cycles status`, pause, resume, the CPU limit, stop.
  const control = new WorkerControl({ identity, pool, wallet, cpu, ...(values.control ? { socket: values.control } : {}) });
  const stop = control.stopSignal(stopSignal());
  const torrents = new TorrentClient(backend, { dht: net.dht, loopback: net.loopback, path: storage });
  let engine: WorkerEngine | undefined;
  let onion: OnionClient | undefined;
  let stream: { stop(): void } | undefined;
  const shutDown = async () => {
    stream?.stop();
    engine?.stop();
    onion?.stop();
    await pool.stop();
    await torrents.stop();
    await control.close();
    if (stop.signal.aborted) print({ event: 'stopped' }, 'stopped');
  };
  let task: FoundTask | undefined;
  try {
    await control.start();
    await torrents.start();
    print({ event: 'started', key: toHex(identity.publicKey), threads: pool.size }, `worker ${toHex(identity.publicKey).slice(0, 16)}… started`);
    task = values.magnet ? { magnet: values.magnet } : await discover(torrents.client.dht, net.trackers, stop.signal, print, stealth);
    if (task && stealth) {
      const view = await relayViewFor({ backend, relays, dht: torrents.client.dht, loopback: net.loopback, guardFile: join(dirname(walletPath), 'relay-guard') });
      onion = onionClientFor(backend, view);
    }
  } catch (error) {
    await shutDown();
    throw error;
  }
  if (!task) {
    await shutDown();
    return 0;
  }
  const client = torrents.client;
  engine = new WorkerEngine(
    {
      backend,
      identity,
      pool,
      torrents: nodeTorrentPort(client, net.trackers, storage),
      earnings: walletEarnings(wallet, onion ? { client: stealthMints(onion) } : {}),
      ...(task.tasker ? { expectTasker: task.tasker } : {}),
      // A stealth worker fetches the task through routes too, unless told to join its swarm (docs/stealth.md, "Fetching the task").
      ...(stealth ? { stealth, routeTask: values['task-swarm'] !== true } : {}),
    },
    task.magnet,
  );
  control.attach(engine);
  if (onion && task.rendezvous) {
    stream = keepStream({ backend, client: onion }, task.rendezvous, engine.frames);
    print({ event: 'stealth', relays: onion.view.relays().length }, `stealth: reaching the tasker through routes over ${onion.view.relays().length} relays`);
  }
  print({ event: 'worker', key: toHex(identity.publicKey), threads: pool.size }, `worker ${toHex(identity.publicKey).slice(0, 16)}… with ${pool.size} thread(s)`);
  engine.on('ready', (m) => print({ event: 'ready', task: m.name, units: m.units }, `task ${m.name}: ${m.units} units, checked`));
  engine.on('assigned', (units) => print({ event: 'assigned', units }, `assigned ${units.join(', ')}`));
  engine.on('computed', (c) => print({ event: 'computed', ...c }, `computed unit ${c.unit} in ${Math.round(c.busyMs)} ms`));
  engine.on('failed', (f) => print({ event: 'failed', unit: f.unit, code: f.error.code }, `unit ${f.unit} failed: ${f.error.message}`));
  engine.on('receipt', (r) => print({ event: 'receipt', unit: r.unit, status: r.status, reason: r.reason }, `unit ${r.unit}: ${r.status}${r.reason ? ` (${r.reason})` : ''}`));
  engine.on('paid', (p) =>
    print({ event: 'paid', unit: p.unit, amount: p.amount, balance: wallet.balance() }, `unit ${p.unit}: paid ${p.amount} (wallet: ${wallet.balance()})`),
  );
  engine.on('warning', (e) => process.stderr.write(`warning: ${e.message}\n`));
  // Only a failure to load the task ends the worker early; success keeps it serving.
  const failed = new Promise<Error>((resolve) => engine.ready.catch(resolve));
  try {
    const outcome = await Promise.race([failed, stop.received]);
    if (outcome instanceof Error) throw outcome;
    await settleBeforeExit(engine, print);
    return 0;
  } finally {
    await shutDown();
  }
}

type Print = (event: Record<string, unknown>, text: string) => void;

/** How long a clean shutdown waits for the receipts of results already sent. */
const SETTLE_MS = 30_000;

/**
 * A receipt is the only copy of an accepted unit's pay. The tasker keeps it
 * until this worker acknowledges it (once the pay is in the wallet file) and
 * sends it again when the worker next joins the task; still, pay kept before
 * exiting is pay in hand. So take no new units, and give the results already
 * sent a bounded while to be answered. Units still running are abandoned (the
 * tasker reissues them); a second signal does not wait.
 */
async function settleBeforeExit(engine: WorkerEngine, print: Print): Promise<void> {
  engine.pause();
  const waiting = engine.unsettled;
  if (waiting === 0) return;
  print({ event: 'settling', results: waiting }, `waiting up to ${SETTLE_MS / 1000} s for the receipts of ${waiting} result(s)…`);
  let again: () => void = () => {};
  const impatient = new Promise<false>((resolve) => (again = () => resolve(false)));
  process.once('SIGINT', again).once('SIGTERM', again);
  let settled: boolean;
  try {
    settled = await Promise.race([engine.settled(SETTLE_MS), impatient]);
  } finally {
    process.off('SIGINT', again).off('SIGTERM', again);
  }
  if (!settled) print({ event: 'unsettled', results: engine.unsettled }, `leaving with ${engine.unsettled} result(s) unanswered; their tasker keeps the receipts for when this worker comes back`);
}

/** A stealth worker's mint clients: each one learns its mint's keys through a route, once, and sends every request through routes. */
function stealthMints(onion: OnionClient): (mint: string) => Promise<MintClient> {
  const clients = new Map<string, Promise<MintClient>>();
  return (mint) => {
    let client = clients.get(mint);
    if (!client) {
      client = new OnionMint({ backend: nodeCrypto, client: onion, url: mint }).mintClient();
      client.catch(() => clients.delete(mint));
      clients.set(mint, client);
    }
    return client;
  };
}

interface FoundTask {
  magnet: string;
  tasker?: Uint8Array;
  rendezvous?: Rendezvous;
}

/** Looks for offers on the DHT until one has units left (and, for a stealth worker, a rendezvous), or a signal says stop. */
async function discover(
  dht: DHT | false | null,
  trackers: string[],
  stop: AbortSignal,
  print: Print,
  stealth: boolean,
): Promise<FoundTask | undefined> {
  if (!dht) throw new UsageError('cycles worker: without --magnet the worker needs the DHT to find offers');
  await dhtReady(dht, 10_000, stop);
  while (!stop.aborted) {
    const offers = await findOffers({ backend: nodeCrypto, dht, lookupMs: 5_000, signal: stop });
    const now = Date.now() / 1000;
    const found = offers.find((f) => f.offer.left > 0 && f.offer.deadline > now && (!stealth || f.offer.rendezvous !== undefined));
    if (found) {
      const { offer } = found;
      print(
        { event: 'offer', task: toHex(offer.task), name: offer.name, price: offer.price, left: offer.left },
        `found ${offer.name}: ${offer.left} of ${offer.units} units left at ${offer.price} per unit`,
      );
      return { magnet: magnetForOffer(offer, trackers), tasker: offer.tasker, ...(offer.rendezvous ? { rendezvous: offer.rendezvous } : {}) };
    }
    await pause(3_000, stop);
  }
  return undefined;
}
