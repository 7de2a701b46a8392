// `npm start`: the whole product on this machine. A private DHT and a tracker
// on loopback, a tasker publishing the Mandelbrot example, two workers taking
// its units; then the merged PNG and both magnets, and everything stops.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startTestnet } from '../testnet/testnet.ts';

export const summary = 'the local mesh demo: a tasker and two workers compute Mandelbrot on loopback';
export const usage = 'cycles demo [--workers 2]';

const CYCLES = fileURLToPath(new URL('../bin/cycles.mjs', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/mandelbrot', import.meta.url));
const DEMO_LIMIT_MS = 110_000;

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
  const net = await startTestnet({ dhtNodes: 5 });
  const children: ChildProcess[] = [];
  const deadline = setTimeout(() => {
    process.stderr.write('demo: taking too long, stopping\n');
    for (const child of children) child.kill('SIGKILL');
  }, DEMO_LIMIT_MS);
  try {
    say(`private network: ${net.dht.length} DHT nodes (${net.bootstrap.join(', ')}), tracker ${net.trackers[0]}`);
    const netArgs = ['--dht-bootstrap', net.bootstrap.join(','), ...net.trackers.flatMap((t) => ['--tracker', t])];
    const tasker = cycles(['publish', EXAMPLE, '--out', out, '--exit', '--json', ...netArgs], join(dir, 'tasker'));
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
      } else if (event.event === 'progress') {
        const verified = Number(event.verified);
        if (Math.floor((verified / Number(event.units)) * 4) !== lastShown) {
          lastShown = Math.floor((verified / Number(event.units)) * 4);
          say(`verified ${verified}/${event.units} units`);
        }
      } else if (event.event === 'result' && event.status === 'rejected') {
        say(`rejected a result for unit ${event.unit}: ${event.reason}`);
      } else if (event.event === 'done') {
        magnets.push(String(event.magnet));
        say(`output magnet: ${event.magnet}`);
      }
    });
    const code = await finished;
    if (code !== 0 || magnets.length < 2) {
      process.stderr.write(`demo: the tasker exited with status ${code}\n`);
      return 1;
    }
    say(`merged image:  ${out}`);
    return 0;
  } finally {
    clearTimeout(deadline);
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    await net.stop();
  }
}
