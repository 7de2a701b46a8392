// The tracker as peers meet it: real bittorrent-tracker clients over HTTP, UDP
// and WebSocket, then the hostile input a public tracker gets. Everything is
// on 127.0.0.1 with port 0; any log line at level 'error' fails the test.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import { join } from 'node:path';
import Client from 'bittorrent-tracker';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decode, isDict, type BDict } from '../../protocol/bencode.ts';
import { fromUtf8 } from '../../protocol/bytes.ts';
import { TrackerServer, type LogLine } from '../../tracker/tracker.ts';
import { waitFor } from '../../testnet/wait.ts';

// ws has no types here; this is the little of its client we use.
type RawWebSocket = EventEmitter & { send(data: string | Uint8Array): void; terminate(): void };
const { WebSocket } = createRequire(import.meta.url)('ws') as { WebSocket: new (url: string) => RawWebSocket };

const ROOT = new URL('../../', import.meta.url).pathname;
const lines: LogLine[] = [];
const running: TrackerServer[] = [];
const cleanups: (() => void)[] = [];

async function startTracker(): Promise<TrackerServer> {
  const tracker = new TrackerServer({ port: 0, host: '127.0.0.1', log: (line) => lines.push(line) });
  running.push(tracker);
  await tracker.start();
  return tracker;
}

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  expect(lines.filter((l) => l.level === 'error')).toEqual([]);
});
afterAll(async () => {
  await Promise.all(running.map((t) => t.stop()));
});

const id20 = () => randomBytes(20);
/** BitTorrent's querystring carries raw bytes, one %XX each. */
const escapeBytes = (bytes: Uint8Array) => Array.from(bytes, (b) => `%${b.toString(16).padStart(2, '0')}`).join('');
/** The WebSocket tracker carries the same bytes as a JSON "binary string". */
const binaryString = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1');


/** Waits for a new `warn` line whose message matches, logged after `mark`. */
async function warned(mark: number, message: RegExp): Promise<LogLine> {
  const hit = () => lines.slice(mark).find((l) => l.level === 'warn' && message.test(String(l.message)));
  await waitFor(`a warning matching ${message}`, () => hit() !== undefined, 5000, 10);
  expect(hit()).toMatchObject({ event: 'warning' });
  return hit()!;
}

async function httpGet(url: string): Promise<BDict> {
  const res = await fetch(url);
  const body = decode(new Uint8Array(await res.arrayBuffer()));
  if (!isDict(body)) throw new Error('expected a bencoded dictionary');
  return body;
}

function httpAnnounce(tracker: TrackerServer, q: { infoHash: Uint8Array; peerId?: Uint8Array; port: number; left: number }) {
  const peerId = q.peerId ? `&peer_id=${escapeBytes(q.peerId)}` : '';
  return httpGet(`${tracker.urls.http}?info_hash=${escapeBytes(q.infoHash)}${peerId}&port=${q.port}&left=${q.left}&compact=1&event=started`);
}

const failure = (body: BDict) => fromUtf8(body['failure reason'] as Uint8Array);

function compactPeers(peers: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i + 6 <= peers.length; i += 6) out.push(`${peers.slice(i, i + 4).join('.')}:${(peers[i + 4]! << 8) | peers[i + 5]!}`);
  return out;
}

/** One announce with the library's own client; resolves with its 'update', rejects on a warning. */
async function clientAnnounce(url: string, extra: Record<string, unknown> = {}): Promise<{ complete: number; incomplete: number }> {
  const client = new Client({ infoHash: id20(), peerId: id20(), announce: [url], port: 6881, ...extra });
  try {
    return await new Promise((resolve, reject) => {
      client.once('update', resolve);
      client.once('warning', reject);
      client.once('error', reject);
      client.start({ left: 100, numwant: 2 });
    });
  } finally {
    await new Promise((r) => client.destroy(r));
  }
}

/** A raw socket: writes, optionally ends or resets, and returns everything the server sent. */
function rawHttp(tracker: TrackerServer, data: string, end: 'read' | 'fin' | 'reset' = 'read'): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(tracker.port, '127.0.0.1');
    let out = '';
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('error', () => {}); // the server may reset us; what it sent is what counts
    socket.on('close', () => resolve(out));
    socket.write(data, () => {
      if (end === 'fin') socket.end();
      // Let the server read the partial request first, so the reset lands mid-request.
      if (end === 'reset') setTimeout(() => socket.resetAndDestroy(), 100);
    });
  });
}

async function openWs(tracker: TrackerServer): Promise<{ ws: RawWebSocket; next: () => Promise<Record<string, unknown>> }> {
  const ws = new WebSocket(tracker.urls.ws);
  cleanups.push(() => ws.terminate());
  const inbox: Record<string, unknown>[] = [];
  ws.on('message', (data: Buffer) => inbox.push(JSON.parse(data.toString())));
  await once(ws, 'open');
  const next = async () => {
    await waitFor('a WebSocket message', () => inbox.length > 0, 5000, 10);
    return inbox.shift()!;
  };
  return { ws, next };
}

describe('TrackerServer', () => {
  it('answers two HTTP peers of one swarm with each other, and counts them', async () => {
    const tracker = await startTracker();
    const infoHash = id20();
    const seeder = await httpAnnounce(tracker, { infoHash, peerId: id20(), port: 6881, left: 0 });
    expect(seeder['failure reason']).toBeUndefined();
    const leecher = await httpAnnounce(tracker, { infoHash, peerId: id20(), port: 6882, left: 100 });
    expect(compactPeers(leecher.peers as Uint8Array)).toContain('127.0.0.1:6881');
    expect(leecher).toMatchObject({ complete: 1, incomplete: 1 });
    const again = await httpAnnounce(tracker, { infoHash, peerId: id20(), port: 6881, left: 0 });
    expect(compactPeers(again.peers as Uint8Array)).toContain('127.0.0.1:6882');

    expect(tracker.stats()).toMatchObject({
      torrents: 1,
      activeTorrents: 1,
      peers: { total: 2, seeders: 1, leechers: 1, http: 2, udp: 0, ws: 0 },
      announces: 3,
      warnings: 0,
    });
    await tracker.stop();
    await tracker.stop(); // idempotent
    expect(lines.filter((l) => l.event === 'stop' && l.port === tracker.port)).toHaveLength(1);
  });

  it('refuses announces its filter rejects, with a failure reason', async () => {
    const allowed = id20();
    const tracker = new TrackerServer({ log: (l) => lines.push(l), filter: (hex) => hex === allowed.toString('hex') });
    running.push(tracker);
    await tracker.start();
    expect(await httpAnnounce(tracker, { infoHash: allowed, peerId: id20(), port: 6881, left: 0 })).toMatchObject({ complete: 1 });
    const refused = await httpAnnounce(tracker, { infoHash: id20(), peerId: id20(), port: 6881, left: 0 });
    expect(failure(refused)).toBe('torrent not allowed on this tracker');
    await tracker.stop();
  });

  it('rejects start() when the UDP port is taken, and leaves nothing bound', async () => {
    // Other tests' sockets share the port range, so the port must be free on
    // TCP too, or start() fails at its HTTP listen and never reaches UDP.
    let failure: NodeJS.ErrnoException | undefined;
    let port = 0;
    for (let attempt = 0; attempt < 5 && failure?.syscall !== 'bind'; attempt++) {
      const reserve = net.createServer();
      await new Promise<void>((r) => reserve.listen(0, '127.0.0.1', r));
      port = (reserve.address() as net.AddressInfo).port;
      const blocker = dgram.createSocket('udp4');
      cleanups.push(() => blocker.close());
      const bound = await new Promise<boolean>((r) => blocker.once('error', () => r(false)).bind(port, '127.0.0.1', () => r(true)));
      await new Promise((r) => reserve.close(r));
      if (!bound) continue;
      const tracker = new TrackerServer({ port, log: (l) => lines.push(l) });
      failure = await tracker.start().then(() => undefined, (err: NodeJS.ErrnoException) => err);
      expect(failure).toMatchObject({ code: 'EADDRINUSE' });
    }
    expect(failure).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });
    // The HTTP listener it opened first is closed again. Dialling, not
    // listening, is the probe: a client socket elsewhere may hold the port.
    const dial = net.connect(port, '127.0.0.1');
    await expect(once(dial, 'connect')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  describe('one shared tracker', () => {
    let tracker: TrackerServer;
    it('serves HTTP, UDP and WebSocket on one port', async () => {
      tracker = await startTracker();
      const port = String(tracker.port);
      expect(tracker.port).toBeGreaterThan(0);
      expect(tracker.urls).toEqual({
        http: `http://127.0.0.1:${port}/announce`,
        udp: `udp://127.0.0.1:${port}`,
        ws: `ws://127.0.0.1:${port}`,
      });
      expect(lines.find((l) => l.event === 'start' && l.port === tracker.port)).toMatchObject({ level: 'info', urls: tracker.urls });
    });

    it('takes an announce from a real client over HTTP, UDP and WebSocket', async () => {
      expect(await clientAnnounce(tracker.urls.http)).toMatchObject({ incomplete: 1 });
      expect(await clientAnnounce(tracker.urls.udp)).toMatchObject({ incomplete: 1 });
      // The WS client makes real WebRTC offers (through the webrtc-polyfill override): they must pass our offer check.
      expect(await clientAnnounce(tracker.urls.ws, { rtcConfig: { iceServers: [] } })).toMatchObject({ incomplete: 1 });
      const { peers, announces } = tracker.stats();
      expect(peers.http).toBe(1);
      expect(peers.udp).toBe(1);
      expect(announces).toBeGreaterThanOrEqual(3);
    });

    it('serves /health, /stats.json and /stats', async () => {
      const origin = new URL(tracker.urls.http).origin;
      const health = await fetch(`${origin}/health`);
      expect(health.status).toBe(200);
      expect(health.headers.get('content-type')).toBe('application/json');
      expect(await health.json()).toMatchObject({ ok: true, uptimeS: expect.any(Number) });

      const stats = await (await fetch(`${origin}/stats.json`)).json();
      expect(stats).toEqual(tracker.stats());
      expect(stats.torrents).toBeGreaterThanOrEqual(2);

      const page = await fetch(`${origin}/stats`);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await page.text()).toMatch(/<th>torrents<\/th><td>\d+<\/td>/);
    });

    describe('hostile input: a failure reason where the protocol has one, a warning, no crash', () => {
      it('HTTP announce with a malformed info_hash', async () => {
        const mark = lines.length;
        const body = await httpGet(`${tracker.urls.http}?info_hash=abc&peer_id=${escapeBytes(id20())}&port=6881`);
        expect(failure(body)).toBe('invalid info_hash');
        await warned(mark, /invalid info_hash/);
      });

      it('HTTP announce without a peer_id', async () => {
        const mark = lines.length;
        expect(failure(await httpAnnounce(tracker, { infoHash: id20(), port: 6881, left: 1 }))).toBe('invalid peer_id');
        await warned(mark, /invalid peer_id/);
      });

      it('HTTP request with a huge querystring', async () => {
        const mark = lines.length;
        const reply = await rawHttp(tracker, `GET /announce?junk=${'x'.repeat(64 * 1024)} HTTP/1.1\r\nhost: x\r\n\r\n`);
        expect(reply).toMatch(/^HTTP\/1\.1 431 /);
        const body = new Uint8Array(Buffer.from(reply.slice(reply.indexOf('\r\n\r\n') + 4), 'latin1'));
        expect(decode(body)).toMatchObject({ 'failure reason': expect.any(Uint8Array) });
        expect((await warned(mark, /header overflow/i)).source).toBe('http');
      });

      it('a WebSocket handshake with a bad key', async () => {
        const mark = lines.length;
        const upgrade = 'GET / HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: nope\r\n\r\n';
        expect(await rawHttp(tracker, upgrade)).toMatch(/^HTTP\/1\.1 400 [^]*failure reason/);
        expect((await warned(mark, /Sec-WebSocket-Key/i)).source).toBe('ws');
      });

      it('HTTP sockets closed mid-request, with FIN and with RST', async () => {
        let mark = lines.length;
        // Half-closed, the socket can still carry our answer.
        expect(await rawHttp(tracker, 'GET /announce?info_hash=%01%02', 'fin')).toMatch(/^HTTP\/1\.1 400 [^]*failure reason/);
        await warned(mark, /parse error/i);
        mark = lines.length;
        await rawHttp(tracker, 'GET /announce?info_ha', 'reset');
        await warned(mark, /ECONNRESET/);
      });

      it('garbage and truncated packets to the UDP port', async () => {
        const udp = dgram.createSocket('udp4');
        cleanups.push(() => udp.close());
        const replies: Buffer[] = [];
        udp.on('message', (msg) => replies.push(msg));
        let mark = lines.length;
        udp.send(randomBytes(100), tracker.port, '127.0.0.1');
        await warned(mark, /invalid connection id/);
        // The BEP 15 protocol id, action 1 (announce), a transaction id, and nothing after.
        const truncated = Buffer.from('0000041727101980' + '00000001' + '0000002a' + '0011', 'hex');
        mark = lines.length;
        udp.send(truncated, tracker.port, '127.0.0.1');
        await warned(mark, /out of range|outside buffer bounds/);
        // A packet we cannot parse has no transaction id to answer with, so it gets none.
        await new Promise((r) => setTimeout(r, 100));
        expect(replies).toEqual([]);
      });

      it('invalid JSON and binary junk on a WebSocket', async () => {
        const { ws, next } = await openWs(tracker);
        let mark = lines.length;
        ws.send('{"action": "announce", ');
        expect(await next()).toMatchObject({ 'failure reason': expect.stringMatching(/JSON/) });
        await warned(mark, /JSON/);
        mark = lines.length;
        ws.send(new Uint8Array([0, 0xff, 0x13, 0x37]));
        expect(await next()).toMatchObject({ 'failure reason': expect.any(String) });
        await warned(mark, /JSON/);
        mark = lines.length;
        ws.send('null');
        expect(await next()).toMatchObject({ 'failure reason': expect.any(String) });
        await warned(mark, /null|undefined/);
      });

      it('WebSocket offers that are not offers (the library would crash on [null])', async () => {
        const infoHash = binaryString(id20());
        const first = await openWs(tracker);
        first.ws.send(JSON.stringify({ action: 'announce', info_hash: infoHash, peer_id: binaryString(id20()), event: 'started' }));
        expect(await first.next()).toMatchObject({ action: 'announce', incomplete: 1 });

        const second = await openWs(tracker);
        const mark = lines.length;
        const announce = { action: 'announce', info_hash: infoHash, peer_id: binaryString(id20()), event: 'started' };
        second.ws.send(JSON.stringify({ ...announce, offers: [null] }));
        expect(await second.next()).toMatchObject({ 'failure reason': 'invalid offers' });
        await warned(mark, /invalid offers/);
        // Well-formed offers still reach the other peer.
        second.ws.send(JSON.stringify({ ...announce, offers: [{ offer: { type: 'offer', sdp: 'x' }, offer_id: 'o1' }] }));
        expect(await second.next()).toMatchObject({ action: 'announce', incomplete: 2 });
        expect(await first.next()).toMatchObject({ offer: { type: 'offer', sdp: 'x' }, offer_id: 'o1' });
      });

      it('still serves a good announce afterwards, on every protocol', async () => {
        const body = await httpAnnounce(tracker, { infoHash: id20(), peerId: id20(), port: 6883, left: 0 });
        expect(body).toMatchObject({ complete: 1 });
        expect(await clientAnnounce(tracker.urls.udp)).toMatchObject({ incomplete: 1 });
        const { ws, next } = await openWs(tracker);
        ws.send(JSON.stringify({ action: 'announce', info_hash: binaryString(id20()), peer_id: binaryString(id20()), numwant: 0 }));
        expect(await next()).toMatchObject({ action: 'announce', incomplete: 1 });
        expect((await fetch(new URL('/health', tracker.urls.http))).status).toBe(200);
        expect(tracker.stats().warnings).toBeGreaterThanOrEqual(10);
      });
    });
  });
});

describe('cycles tracker', () => {
  it('prints its URLs, serves /health, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/cycles.mjs'), 'tracker', '--port', '0', '--host', '127.0.0.1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      await waitFor('three URLs on stdout', () => stdout.split('\n').length > 3 || child.exitCode !== null, 20_000, 10);
      const [http, udp, ws] = stdout.trim().split('\n');
      expect(http).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/announce$/);
      const port = new URL(http!).port;
      expect([udp, ws]).toEqual([`udp://127.0.0.1:${port}`, `ws://127.0.0.1:${port}`]);

      const health = await fetch(new URL('/health', http));
      expect(await health.json()).toMatchObject({ ok: true });

      child.kill('SIGTERM');
      expect(await exited).toEqual([0, null]);
      const events = stderr.trim().split('\n').map((l) => JSON.parse(l));
      expect(events.map((e) => e.event)).toEqual(['start', 'signal', 'stop']);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
