// Stealth mode as people run it, each party a process of its own: a private
// DHT and a tracker (in this process), a mint (`cycles mint`), four
// `cycles relay --onion` (the last an exit to the mint), a tasker
// (`cycles publish --relay`, which keeps a rendezvous at a relay and names it
// in its offer), a stealth worker (`cycles worker --stealth`) and a direct
// worker beside it, which gives each unit its second answer. The relays and
// the mint listen on loopback addresses of their own (127.0.0.2 to .6); the
// tasker and the workers on 127.0.0.1. The stealth worker finds the offer on
// the DHT, computes and is paid through routes alone, and
// `cycles redeem --stealth` spends its pay through the exit. Then nobody has
// learnt the worker: the tasker knows it by a key of this task's only and
// never by an address, the key is on no disk, and the mint holds neither the
// key nor a request the worker made to it directly. Any log line at level
// 'error' fails the run; every process is stopped at the end.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MintClient } from '../../net/mint-client.ts';
import { fromHex, toHex } from '../../protocol/bytes.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { loadOrCreateIdentity } from '../../store/keys.ts';
import { startRelayProcesses, type RelayProcesses } from '../../testnet/relay-processes.ts';
import { startTestnet, type Testnet } from '../../testnet/testnet.ts';
import { waitFor } from '../../testnet/wait.ts';
import { WalletFile } from '../../worker/node/wallet-file.ts';
import { Wallet } from '../../worker/wallet.ts';
import { depositMessage, dumpDatabase, dumpText } from '../support/mint.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const CYCLES = join(ROOT, 'bin/cycles.mjs');
const EXAMPLE = join(ROOT, 'examples/mandelbrot');
const RELAY_HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const MINT_HOST = '127.0.0.6';
/** The relay that posts to the mint. */
const EXIT = 3;
/** SIGTERM, then SIGKILL after this. */
const STOP_MS = 20_000;

type Json = Record<string, unknown>;

interface Run {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
}

let home: string;
let testnet: Testnet | undefined;
let relays: RelayProcesses | undefined;
const runs: Run[] = [];

/** `cycles …` in a process of its own, under a home (and a temp folder) of its own in the test's folder. */
async function cycles(name: string, args: string[]): Promise<Run> {
  const dir = join(home, name);
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const child = spawn(process.execPath, [CYCLES, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SPARECYCLES_HOME: dir, TMPDIR: join(dir, 'tmp') },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const run: Run = { child, stdout: () => stdout, stderr: () => stderr, exited: once(child, 'exit') as Run['exited'] };
  runs.push(run);
  return run;
}

const running = (run: Run) => run.child.exitCode === null && run.child.signalCode === null;

async function stop(run: Run): Promise<[number | null, NodeJS.Signals | null]> {
  if (!running(run)) return [run.child.exitCode, run.child.signalCode];
  run.child.kill('SIGTERM');
  const timer = setTimeout(() => run.child.kill('SIGKILL'), STOP_MS);
  try {
    return await run.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** The JSON lines of a stream; anything else (a plain warning line) comes back as `{ unparsed }`. */
function jsonLines(text: string): Json[] {
  return text.split('\n').flatMap((line) => {
    if (!line) return [];
    try {
      return [JSON.parse(line) as Json];
    } catch {
      return [{ unparsed: line }];
    }
  });
}

const eventsOf = (run: Run, event: string) => jsonLines(run.stdout()).filter((e) => e.event === event);

/** Waits for a JSON event on a process's stdout; fails at once if the process exits first. */
function eventFrom(run: Run, event: string, timeoutMs: number): Promise<Json> {
  return waitFor(`${event} from cycles ${run.child.spawnargs[2]}`, () => {
    const found = eventsOf(run, event)[0];
    if (found) return found;
    if (!running(run)) throw new Error(`it exited (${run.child.exitCode}) before ${event}: ${run.stderr().slice(-2000)}`);
    return undefined;
  }, timeoutMs, 100);
}

/** A process's exit code, once it exits by itself within `timeoutMs`; what it printed last otherwise. */
async function exitOf(run: Run, timeoutMs: number, more: () => string = () => ''): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`cycles ${run.child.spawnargs[2]} still running after ${timeoutMs} ms: ${run.stdout().slice(-1500)} ${run.stderr().slice(-1500)} ${more()}`)),
      timeoutMs,
    );
  });
  try {
    return (await Promise.race([run.exited, late]))[0];
  } finally {
    clearTimeout(timer);
  }
}

function mentions(record: unknown, key: string): boolean {
  return JSON.stringify(record).includes(key);
}

/** host:port in any form a socket address is printed: 1.2.3.4:5, [::1]:5, ::ffff:1.2.3.4:5. */
const SOCKET_ADDRESS = /\b\d{1,3}(\.\d{1,3}){3}:\d+|\[[0-9a-f:.]*\]:\d+|::ffff:/i;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

function counter(text: string, name: string, label: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${label}} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

const sealedAtMint = async (url: string) =>
  counter(await (await fetch(`${url}/metrics`)).text(), 'sparecycles_mint_requests_total', 'route="oblivious",outcome="ok"');

let mint: Run;
let mintUrl: string;
/** Relays a test killed on purpose, by index. */
const killed = new Set<number>();

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'sc-stealth-cli-'));
  testnet = await startTestnet({ dhtNodes: 3 });
  mint = await cycles('mint', ['mint', '--db', join(home, 'mint', 'ledger.db'), '--port', '0', '--host', MINT_HOST]);
  await waitFor('the mint URL on stdout', () => mint.stdout().includes('\n') || !running(mint), 30_000, 20);
  if (!mint.stdout().includes('\n')) throw new Error(`cycles mint exited before printing its URL: ${mint.stderr().slice(-2000)}`);
  mintUrl = mint.stdout().trim();
  relays = await startRelayProcesses({
    bootstrap: testnet.bootstrap,
    hosts: RELAY_HOSTS,
    extraArgs: (i) => (i === EXIT ? ['--exit-mint', new URL(mintUrl).origin] : []),
  });
  await relays.meshFormed();
}, 90_000);

afterAll(async () => {
  // Whatever a test left running must stop cleanly; what exited by itself was checked where it did.
  const exits = await Promise.all(runs.filter(running).map(stop));
  // A relay a test killed on purpose ended by SIGKILL; every other must stop cleanly.
  const relayExits = ((await relays?.stop()) ?? []).filter((_, i) => !killed.has(i));
  await testnet?.stop();
  const relayErrors = relays?.linesAt('error') ?? [];
  const errors = runs.flatMap((run) => [...jsonLines(run.stdout()), ...jsonLines(run.stderr())].filter((l) => l.level === 'error'));
  if (home) await rm(home, { recursive: true, force: true });
  expect([...exits, ...relayExits].filter(([code]) => code !== 0)).toEqual([]);
  expect([...errors, ...relayErrors]).toEqual([]);
}, 60_000);

describe('stealth mode from the command line', () => {
  it('cycles redeem refuses stealth flags that do not fit, before reading the wallet or reaching anyone', async () => {
    const wallet = join(home, 'absent', 'wallet.json');
    const target = ['--mint', 'http://127.0.0.6:1', '--to', toHex(Identity.generate(backend).publicKey)];
    const refused = await Promise.all(
      [
        ['--stealth'],
        ['--relay', 'ws://127.0.0.2:1'],
        ['--delay-ms', '0'],
        ['--stealth', '--relay', 'http://127.0.0.2:1'],
        ['--stealth', '--relay', 'ws://127.0.0.2:1', '--delay-ms', 'soon'],
      ].map(async (flags, i) => {
        const run = await cycles(`refused-${i}`, ['redeem', wallet, ...target, ...flags]);
        return { code: await exitOf(run, 30_000), stderr: run.stderr() };
      }),
    );
    expect(refused.map((r) => r.code)).toEqual([2, 2, 2, 2, 2]);
    expect(refused.map((r) => r.stderr.split('\n')[0])).toEqual([
      'cycles: --stealth: expected at least one --relay ws://… to learn the relays from',
      'cycles: --relay and --delay-ms go with --stealth',
      'cycles: --relay and --delay-ms go with --stealth',
      'cycles: --relay: expected a ws:// or wss:// URL, got http://127.0.0.2:1',
      'cycles: --delay-ms: expected a whole number of milliseconds, got soon',
    ]);
  });

  it('a stealth worker is paid and redeems through routes alone, and nobody learns who it is', { timeout: 150_000 }, async () => {
    const bootstrap = ['--dht-bootstrap', testnet!.bootstrap.join(',')];
    // The HTTP tracker alone: peers meet over TCP, and no WebRTC runs.
    const tracker = ['--tracker', testnet!.trackers.find((t) => t.startsWith('http'))!];
    const urls = relays!.relays.map((r) => r.url);

    // The tasker's account, funded with the mint's own admin key (beside its ledger) before the task is published.
    const tasker = await loadOrCreateIdentity(backend, join(home, 'tasker', 'tasker.key'));
    const admin = await loadOrCreateIdentity(backend, join(home, 'mint', 'ledger.db-admin.key'));
    const mintClient = new MintClient(mintUrl);
    const { mint: mintId } = await mintClient.info();
    await mintClient.deposit(depositMessage(admin, fromHex(mintId), toHex(tasker.publicKey), 1_000));
    // Nothing has gone to the mint sealed yet: what does later is the stealth worker's.
    expect(await sealedAtMint(mintUrl)).toBe(0);

    const publish = await cycles('tasker', [
      'publish', EXAMPLE, '--json', '--exit', '--verbose',
      '--mint', mintUrl, '--relay', urls[0]!, '--relay', urls[1]!, '--out', join(home, 'mandelbrot.png'),
      ...bootstrap, ...tracker,
    ]);
    const walletPath = join(home, 'worker', 'wallet.json');
    const worker = await cycles('worker', ['worker', '--stealth', '--json', '--cpu', '0.5', '--relay', urls[2]!, '--wallet', walletPath, ...bootstrap, ...tracker]);

    const { magnet } = await eventFrom(publish, 'magnet', 60_000);
    const rendezvous = await eventFrom(publish, 'rendezvous', 60_000);
    expect(relays!.keys).toContain(rendezvous.relay);
    await eventFrom(worker, 'ready', 60_000);
    // Every unit wants a second worker's answer (replication 2), and stealth workers are one address group: a direct
    // worker, on the task's swarm, gives it.
    const direct = await cycles('direct', ['worker', '--json', '--cpu', '0.5', '--magnet', magnet as string, '--wallet', join(home, 'direct', 'wallet.json'), ...bootstrap, ...tracker]);
    // With --exit the tasker stops once the task is merged and its receipts (and the pay in them) are collected.
    expect(await exitOf(publish, 100_000, () => `the stealth worker said: ${worker.stdout().slice(-1000)}`)).toBe(0);

    // The worker's key: the same in both its events, and this task's only.
    const key = (await eventFrom(worker, 'started', 1_000)).key as string;
    expect((await eventFrom(worker, 'worker', 1_000)).key).toBe(key);
    expect(key).toMatch(/^[0-9a-f]{64}$/);

    // The tasker paid it for what it accepted, and the worker holds all of it.
    const taskerEvents = jsonLines(publish.stdout());
    const paidByTasker = taskerEvents.filter((e) => e.event === 'paid' && e.worker === key).reduce((a, e) => a + (e.amount as number), 0);
    expect(paidByTasker).toBeGreaterThan(0);
    expect(taskerEvents.filter((e) => e.event === 'result' && e.worker === key).length).toBeGreaterThan(0);
    expect(taskerEvents.find((e) => e.event === 'done')).toBeDefined();
    await waitFor('the worker holding all it was paid', () => eventsOf(worker, 'paid').at(-1)?.balance === paidByTasker, 20_000, 100);
    expect(eventsOf(worker, 'computed').length).toBeGreaterThan(0);
    expect(eventsOf(worker, 'receipt').filter((r) => r.status === 'accepted').length).toBeGreaterThan(0);
    expect(await stop(worker)).toEqual([0, null]);
    expect(await stop(direct)).toEqual([0, null]);
    const wallet = await Wallet.open(new WalletFile(walletPath));
    expect(wallet.balance(mintUrl)).toBe(paidByTasker);

    // The tasker knows it only by that key: no record of it holds an address, and any peer label it prints is a stealth stream's.
    const taskerRecords = [...taskerEvents, ...jsonLines(publish.stderr())].filter((r) => mentions(r, key));
    expect(taskerRecords.length).toBeGreaterThan(0);
    for (const record of taskerRecords) {
      expect(JSON.stringify(record)).not.toMatch(SOCKET_ADDRESS);
      if (record.peer !== undefined) expect(record.peer).toMatch(/^onion:/);
    }

    // A fresh key: the stealth worker made no key file, and no key on disk (the direct worker's included) is it.
    const files = await filesUnder(home);
    expect(files.filter((f) => f.endsWith('.key')).map((f) => f.slice(home.length + 1)).sort()).toEqual(['direct/worker.key', 'mint/ledger.db-admin.key', 'tasker/tasker.key']);
    const keysOnDisk = await Promise.all(files.filter((f) => f.endsWith('.key')).map(async (f) => toHex((await loadOrCreateIdentity(backend, f)).publicKey)));
    expect([...keysOnDisk, ...relays!.keys]).not.toContain(key);
    for (const f of await filesUnder(join(home, 'worker'))) expect((await readFile(f)).toString('latin1')).not.toContain(key);

    // The worker never called the mint itself: its keyset came sealed, through the exit.
    const sealedBefore = await sealedAtMint(mintUrl);
    expect(sealedBefore).toBeGreaterThan(0);

    // Redeeming the wallet through routes moves the balance at the mint.
    const target = toHex(Identity.generate(backend).publicKey);
    const redeem = await cycles('redeem', ['redeem', walletPath, '--mint', mintUrl, '--to', target, '--stealth', '--relay', urls[1]!, '--delay-ms', '0']);
    expect(await exitOf(redeem, 60_000), redeem.stderr()).toBe(0);
    expect(redeem.stdout()).toBe(`redeemed ${paidByTasker}\n${target} ${paidByTasker}\n`);
    expect(await mintClient.balance(target)).toBe(paidByTasker);
    expect((await Wallet.open(new WalletFile(walletPath))).balance()).toBe(0);
    // Its every request went sealed: a batch at most per packet, and the balance asked after.
    expect((await sealedAtMint(mintUrl)) - sealedBefore).toBeGreaterThanOrEqual(Math.ceil(wallet.list().length / 8) + 1);
    const exit = await (await fetch(`${urls[EXIT]!.replace(/^ws:/, 'http:')}/metrics`)).text();
    expect(counter(exit, 'sparecycles_relay_onion_packets_delivered_total', 'to="exit"')).toBeGreaterThanOrEqual(3);

    // The mint knows the account paid into, and nothing of the worker, in its ledger or its log.
    expect(await stop(mint)).toEqual([0, null]);
    const ledger = dumpText(dumpDatabase(join(home, 'mint', 'ledger.db')));
    expect(ledger).toContain(target);
    expect(ledger).not.toContain(key);
    expect(mint.stderr()).not.toContain(key);
  });

  it('a relay killed mid-route costs nothing: the next tries take new routes, no unit is paid twice, no credit is lost', { timeout: 180_000 }, async () => {
    const bootstrap = ['--dht-bootstrap', testnet!.bootstrap.join(',')];
    const tracker = ['--tracker', testnet!.trackers.find((t) => t.startsWith('http'))!];
    const urls = relays!.relays.map((r) => r.url);

    // The mint comes back on the address the exit lists (the test before stopped it to read its ledger).
    mint = await cycles('mint-again', ['mint', '--db', join(home, 'mint', 'ledger.db'), '--port', new URL(mintUrl).port, '--host', MINT_HOST]);
    await waitFor('the mint URL on stdout', () => mint.stdout().includes('\n') || !running(mint), 30_000, 20);
    expect(mint.stdout().trim()).toBe(mintUrl);
    const tasker = await loadOrCreateIdentity(backend, join(home, 'tasker-2', 'tasker.key'));
    const admin = await loadOrCreateIdentity(backend, join(home, 'mint', 'ledger.db-admin.key'));
    const mintClient = new MintClient(mintUrl);
    const { mint: mintId } = await mintClient.info();
    const DEPOSIT = 1_000;
    await mintClient.deposit(depositMessage(admin, fromHex(mintId), toHex(tasker.publicKey), DEPOSIT));

    const publish = await cycles('tasker-2', [
      'publish', EXAMPLE, '--json', '--exit', '--mint', mintUrl, '--relay', urls[0]!, '--relay', urls[1]!, '--out', join(home, 'again.png'),
      ...bootstrap, ...tracker,
    ]);
    const walletPath = join(home, 'worker-2', 'wallet.json');
    const worker = await cycles('worker-2', ['worker', '--stealth', '--json', '--cpu', '0.5', '--relay', urls[2]!, '--wallet', walletPath, ...bootstrap, ...tracker]);
    const rendezvous = (await eventFrom(publish, 'rendezvous', 60_000)).relay as string;
    const { magnet } = await eventFrom(publish, 'magnet', 60_000);
    // The worker alone cannot finish a unit (replication 2): it computes, and its results and receipts are on the wire, when a middle relay dies.
    await eventFrom(worker, 'computed', 90_000);
    const guard = (await readFile(join(home, 'worker-2', 'relay-guard'), 'utf8')).trim();
    const middles = relays!.keys.map((key, i) => ({ key, i })).filter(({ key, i }) => key !== guard && key !== rendezvous && i !== EXIT);
    expect(middles.length).toBeGreaterThan(0);
    // The middle that has carried this traffic (or, if none has yet, the first that may).
    const carried = async (i: number) => {
      const text = await (await fetch(`${urls[i]!.replace(/^ws:/, 'http:')}/metrics`)).text();
      return Number(text.split('\n').find((l) => l.startsWith('sparecycles_relay_onion_packets_out_total '))?.split(' ')[1] ?? 0);
    };
    const loads = await Promise.all(middles.map(({ i }) => carried(i)));
    const victim = middles[loads.indexOf(Math.max(...loads))]!.i;
    expect(Math.max(...loads)).toBeGreaterThan(0);
    killed.add(victim);
    relays!.relays[victim]!.child.kill('SIGKILL');
    expect(await relays!.relays[victim]!.exited).toEqual([null, 'SIGKILL']);
    const computedAtKill = eventsOf(worker, 'computed').length;

    const direct = await cycles('direct-2', ['worker', '--json', '--cpu', '0.5', '--magnet', magnet as string, '--wallet', join(home, 'direct-2', 'wallet.json'), ...bootstrap, ...tracker]);
    expect(await exitOf(publish, 120_000, () => `the stealth worker said: ${worker.stdout().slice(-1000)}`)).toBe(0);
    const key = (await eventFrom(worker, 'started', 1_000)).key as string;
    const taskerEvents = jsonLines(publish.stdout());
    expect(taskerEvents.find((e) => e.event === 'done')).toBeDefined();
    // The stealth worker went on working after the kill, and its results were taken.
    await waitFor('the stealth worker to compute past the kill', () => eventsOf(worker, 'computed').length > computedAtKill || undefined, 30_000, 100);
    const paid = taskerEvents.filter((e) => e.event === 'paid');
    const paidToWorker = paid.filter((e) => e.worker === key);
    expect(paidToWorker.length).toBeGreaterThan(0);
    // No unit was paid twice, to anyone, and the mint took from the tasker exactly what it paid out.
    const paidUnits = paid.map((e) => `${e.worker as string}:${e.unit as number}`);
    expect(new Set(paidUnits).size).toBe(paidUnits.length);
    const paidOut = paid.reduce((a, e) => a + (e.amount as number), 0);
    expect(await mintClient.balance(toHex(tasker.publicKey))).toBe(DEPOSIT - paidOut);
    // No credit was lost: the worker holds every one it was paid.
    const paidByTasker = paidToWorker.reduce((a, e) => a + (e.amount as number), 0);
    await waitFor('the worker holding all it was paid', () => eventsOf(worker, 'paid').at(-1)?.balance === paidByTasker, 30_000, 100);
    expect(await stop(worker)).toEqual([0, null]);
    expect(await stop(direct)).toEqual([0, null]);
    expect((await Wallet.open(new WalletFile(walletPath))).balance(mintUrl)).toBe(paidByTasker);

    // Redeeming through routes, with the relay still dead, moves exactly that.
    const target = toHex(Identity.generate(backend).publicKey);
    // It learns the relays from those still up: the dead one may be the one the worker learnt them from.
    const live = urls.filter((_, i) => i !== victim).flatMap((url) => ['--relay', url]);
    const redeem = await cycles('redeem-2', ['redeem', walletPath, '--mint', mintUrl, '--to', target, '--stealth', ...live, '--delay-ms', '0']);
    expect(await exitOf(redeem, 90_000), redeem.stderr()).toBe(0);
    expect(await mintClient.balance(target)).toBe(paidByTasker);
    expect((await Wallet.open(new WalletFile(walletPath))).balance()).toBe(0);
  });
});
