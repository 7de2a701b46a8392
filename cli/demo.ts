// `npm start`: the whole product on this machine. A private DHT, a tracker,
// an edge relay and a mint on loopback, a tasker publishing the Mandelbrot
// example and paying for it, the relay listing its offer as a browser would
// see it, two workers taking its units; then the merged PNG, both magnets and
// what each worker earned, and everything stops.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fetchOffersFromRelay, type SocketConstructor } from '../net/relay-client.ts';
import { loadOrCreateIdentity } from '../store/keys.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import type { RelayServer } from '../relay/relay.ts';
import { WebSocketClient } from '../serve/ws.ts';
import { startTestnet } from '../testnet/testnet.ts';
import { WalletFile } from '../worker/node/wallet-file.ts';
import { Wallet } from '../worker/wallet.ts';

export const usage = 'cycles demo [--workers 2]';

const CYCLES = fileURLToPath(new URL('../bin/cycles.mjs', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/mandelbrot', import.meta.url));
const DEMO_LIMIT_MS = 110_000;
/** The Mandelbrot example's price per unit. */
const PRICE = 1;

function cycles(args: string[], home: string): ChildProcess {
  return spawn(process.execPath, [CYCLES, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SPARECYCLES_HOME: home },
  });
}

function lines(child: ChildProcess, onLine: (line: string) => void): void {
  createInterface({ input: child.stdout! }).on('line', onLine);
}

export async function main(argv: string[]): Promise<number> {
  const workers = Number(argv[argv.indexOf('--workers') + 1] || 2);
  const say = (text: string) => process.stdout.write(`${text}\n`);
  const dir = await mkdtemp(join(tmpdir(), 'sparecycles-demo-'));
  const out = join(dir, 'mandelbrot.png');
  const net = await startTestnet({ dhtNodes: 5, relays: 1, mint: true });
  const mint = net.mint!;
  const relay = net.relays[0]!.relay;
  const children: ChildProcess[] = [];
  let relayAsked: Promise<void> | undefined;
  const deadline = setTimeout(() => {
    process.stderr.write('demo: taking too long, stopping\n');
    for (const child of children) child.kill('SIGKILL');
  }, DEMO_LIMIT_MS);
  try {
    say(`private network: ${net.dht.length} DHT nodes (${net.bootstrap.join(', ')}), tracker ${net.trackers[0]}, relay ${relay.url}, mint ${mint.url}`);
    const netArgs = ['--dht-bootstrap', net.bootstrap.join(','), ...net.trackers.flatMap((t) => ['--tracker', t])];
    // The mint operator funds the tasker's account: enough for every unit computed three times over.
    const taskerKey = await loadOrCreateIdentity(nodeCrypto, join(dir, 'tasker', 'tasker.key'));
    await mint.fund(taskerKey.publicKey, 3 * 32 * PRICE);
    say(`funded the tasker with ${3 * 32 * PRICE} credits at the mint`);
    const tasker = cycles(
      ['publish', EXAMPLE, '--out', out, '--exit', '--json', '--mint', mint.url, ...netArgs],
      join(dir, 'tasker'),
    );
    children.push(tasker);
    tasker.stderr!.pipe(process.stderr);
    const magnets: string[] = [];
    let lastShown = -1;
    const finished = new Promise<number>((resolve) => tasker.once('exit', (code) => resolve(code ?? 1)));
    lines(tasker, (line) => {
      const event = JSON.parse(line) as Record<string, unknown> & { event: string };
      if (event.event === 'magnet') {
        magnets.push(String(event.magnet));
        say(`task magnet:   ${event.magnet}`);
        for (let i = 0; i < workers; i++) {
          // Workers are not told the magnet: they find the offer on the DHT.
          const worker = cycles(['worker', '--cpu', '0.5', '--json', ...netArgs], join(dir, `worker-${i}`));
          children.push(worker);
          worker.stderr!.resume();
          worker.stdout!.resume();
        }
        say(`started ${workers} workers; they look for offers on the DHT`);
      } else if (event.event === 'offer') {
        relayAsked ??= askRelay(relay, say);
      } else if (event.event === 'progress') {
        const verified = Number(event.verified);
        if (Math.floor((verified / Number(event.units)) * 4) !== lastShown) {
          lastShown = Math.floor((verified / Number(event.units)) * 4);
          say(`verified ${verified}/${event.units} units`);
        }
      } else if ((event.event === 'result' || event.event === 'verdict') && event.status === 'rejected') {
        say(`rejected a result for unit ${event.unit}: ${event.reason}`);
      } else if (event.event === 'done') {
        magnets.push(String(event.magnet));
        say(`output magnet: ${event.magnet}`);
      } else if (event.event === 'payments') {
        say(`the tasker paid ${event.credits} credits for ${event.payments} accepted results`);
      }
    });
    const code = await finished;
    if (code !== 0 || magnets.length < 2) {
      process.stderr.write(`demo: the tasker exited with status ${code}\n`);
      return 1;
    }
    say(`merged image:  ${out}`);
    await showEarnings(children.slice(1), dir, say);
    return 0;
  } finally {
    clearTimeout(deadline);
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    await relayAsked;
    await net.stop();
  }
}

/** Stops the workers and reads what each one's wallet holds. */
async function showEarnings(workers: ChildProcess[], dir: string, say: (text: string) => void): Promise<void> {
  for (const child of workers) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(workers.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  for (let i = 0; i < workers.length; i++) {
    const wallet = await Wallet.open(new WalletFile(join(dir, `worker-${i}`, 'wallet.json')));
    say(`worker ${i} earned ${wallet.balance()} credits (${wallet.list().length} in its wallet; \`cycles wallet\` lists them)`);
  }
}

/** Asks the relay for offers over WebSocket, as the extension does, and says what it lists; each offer verified under its tasker's key. */
async function askRelay(relay: RelayServer, say: (text: string) => void): Promise<void> {
  const WebSocket = WebSocketClient as unknown as SocketConstructor;
  try {
    for (let attempt = 1; ; attempt++) {
      // A relay refreshes its view of the DHT every half minute; the demo asks it to look now.
      await relay.refreshOffers();
      const { offers } = await fetchOffersFromRelay({ url: relay.url, backend: nodeCrypto, WebSocket, timeoutMs: 10_000 });
      if (offers.length > 0) {
        const listed = offers.map((o) => `${o.name} (${o.left}/${o.units} units left, ${o.price} credit${o.price === 1 ? '' : 's'} a unit)`);
        return say(`the relay lists the offer a browser would take: ${listed.join(', ')}`);
      }
      if (attempt === 5) return say('the relay lists no offer yet');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  } catch (error) {
    say(`the relay could not be asked for offers: ${(error as Error).message}`);
  }
}
