// The control server against callers that get it wrong: every bad line is
// answered with a typed JSON-RPC error, a caller without the cookie gets
// nothing but refusals and is cut off, and the server keeps serving others.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SpareCyclesError } from '../../protocol/errors.ts';
import { ControlClient } from '../../serve/control-client.ts';
import { cookieFileFor } from '../../serve/control-paths.ts';
import { CONTROL, ControlError, LineSplitter, RPC_CODES } from '../../serve/control-protocol.ts';
import { ControlServer } from '../../serve/control-server.ts';
import { waitFor } from '../../testnet/wait.ts';

let dir: string;
let socket: string;
let server: ControlServer;
const warnings: Error[] = [];
const raws: Socket[] = [];

function makeServer(): ControlServer {
  const s = new ControlServer({
    socket,
    cookieFile: cookieFileFor(socket),
    role: 'test',
    events: ['tick'],
    methods: {
      echo: (params) => params,
      refuse: () => {
        throw new SpareCyclesError('BUSY', 'not now');
      },
      broken: () => {
        throw new Error('a bug of the node');
      },
      slow: async () => {
        await new Promise((r) => setTimeout(r, 20));
        return 'late';
      },
    },
  });
  s.on('warning', (e) => warnings.push(e));
  return s;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sc-control-'));
  socket = join(dir, 'test.sock');
  warnings.length = 0;
  server = makeServer();
  await server.start();
});

afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

const cookieHex = async () => (await readFile(cookieFileFor(socket))).toString('hex');

/** A caller that writes raw bytes and reads raw lines. */
async function raw(): Promise<{ send: (text: string) => void; next: () => Promise<Record<string, unknown>>; closed: Promise<unknown> }> {
  const s = createConnection(socket);
  raws.push(s);
  await once(s, 'connect');
  const lines = new LineSplitter(CONTROL.maxResponseBytes);
  const queue: Record<string, unknown>[] = [];
  s.on('data', (chunk: Buffer) => queue.push(...lines.push(chunk).map((l) => JSON.parse(l) as Record<string, unknown>)));
  const closed = once(s, 'close');
  return {
    send: (text) => s.write(text),
    next: () => waitFor('an answer line', () => queue.shift(), 5_000, 5),
    closed,
  };
}

const errorOf = (line: Record<string, unknown>) => line.error as { code: number; message: string; data: { code: string; field?: string } };

describe('the control server', () => {
  it('makes its socket and cookie readable by this user only, and removes them when it stops', async () => {
    expect((await stat(socket)).mode & 0o777).toBe(0o600);
    const cookie = await stat(cookieFileFor(socket));
    expect(cookie.mode & 0o777).toBe(0o600);
    expect(cookie.size).toBe(32);
    await server.stop();
    await expect(stat(socket)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(cookieFileFor(socket))).rejects.toMatchObject({ code: 'ENOENT' });
    server = makeServer();
    await server.start();
  });

  it('answers a caller with the cookie, and refuses everything before it', async () => {
    const c = await raw();
    c.send('{"jsonrpc":"2.0","id":1,"method":"echo","params":{"a":1}}\n');
    expect(errorOf(await c.next())).toMatchObject({ code: RPC_CODES.unauthorized, data: { code: 'UNAUTHORIZED' } });
    c.send(`{"jsonrpc":"2.0","id":2,"method":"auth","params":{"cookie":"${await cookieHex()}"}}\n`);
    expect(await c.next()).toMatchObject({ id: 2, result: { api: CONTROL.version, role: 'test', events: ['tick'] } });
    c.send('{"jsonrpc":"2.0","id":"x","method":"echo","params":{"a":1}}\n');
    expect(await c.next()).toEqual({ jsonrpc: '2.0', id: 'x', result: { a: 1 } });
  });

  it('cuts off a caller after a few calls without the right cookie, and serves the next', async () => {
    const c = await raw();
    const wrong = 'ab'.repeat(32);
    c.send(`{"jsonrpc":"2.0","id":1,"method":"auth","params":{"cookie":"${wrong}"}}\n`);
    expect(errorOf(await c.next())).toMatchObject({ code: RPC_CODES.unauthorized, data: { code: 'UNAUTHORIZED', field: 'cookie' } });
    c.send('{"jsonrpc":"2.0","id":2,"method":"auth","params":{"cookie":"abc"}}\n');
    expect(errorOf(await c.next()).code).toBe(RPC_CODES.unauthorized);
    c.send('{"jsonrpc":"2.0","id":3,"method":"echo"}\n');
    expect(errorOf(await c.next()).code).toBe(RPC_CODES.unauthorized);
    await c.closed;
    // The same node serves a caller that has the cookie.
    const { client } = await ControlClient.open(socket, cookieFileFor(socket));
    expect(await client.call('echo', { b: 2 })).toEqual({ b: 2 });
    client.close();
  });

  it('answers bad lines with typed JSON-RPC errors and stays up', async () => {
    const c = await raw();
    c.send(`{"jsonrpc":"2.0","id":0,"method":"auth","params":{"cookie":"${await cookieHex()}"}}\n`);
    await c.next();
    c.send('this is not json\n');
    expect(await c.next()).toMatchObject({ id: null, error: { code: RPC_CODES.parse, data: { code: 'DECODE' } } });
    c.send('[1,2]\n');
    expect(errorOf(await c.next())).toMatchObject({ code: RPC_CODES.invalidRequest, data: { code: 'SCHEMA' } });
    c.send('{"jsonrpc":"1.0","id":5,"method":"echo"}\n');
    expect(await c.next()).toMatchObject({ id: 5, error: { code: RPC_CODES.invalidRequest, data: { code: 'VERSION', field: 'jsonrpc' } } });
    c.send('{"jsonrpc":"2.0","id":6,"method":"nope"}\n');
    expect(await c.next()).toMatchObject({ id: 6, error: { code: RPC_CODES.methodNotFound, data: { code: 'NOT_FOUND', field: 'method' } } });
    c.send('{"jsonrpc":"2.0","id":7,"method":"echo","params":[1]}\n');
    expect(errorOf(await c.next())).toMatchObject({ code: RPC_CODES.invalidParams, data: { code: 'SCHEMA', field: 'params' } });
    c.send('{"jsonrpc":"2.0","id":{"x":1},"method":"echo"}\n');
    expect(errorOf(await c.next())).toMatchObject({ code: RPC_CODES.invalidRequest, data: { field: 'id' } });
    c.send('{"jsonrpc":"2.0","id":8,"method":"refuse"}\n');
    expect(errorOf(await c.next())).toMatchObject({ code: RPC_CODES.refused, message: 'not now', data: { code: 'BUSY' } });
    c.send('{"jsonrpc":"2.0","id":9,"method":"broken"}\n');
    // A fault of the node's own: the caller hears that much, the node's warning the rest.
    expect(errorOf(await c.next())).toMatchObject({ code: RPC_CODES.internal, data: { code: 'INTERNAL' } });
    expect(warnings.map((w) => w.message)).toEqual(['a bug of the node']);
    c.send('{"jsonrpc":"2.0","id":10,"method":"subscribe","params":{"events":["nope"]}}\n');
    expect(errorOf(await c.next())).toMatchObject({ code: RPC_CODES.invalidParams, data: { field: 'events' } });
    // A notification (no id) gets no answer, even when it fails: the next answer is the next call's.
    c.send('{"jsonrpc":"2.0","method":"refuse"}\n{"jsonrpc":"2.0","id":11,"method":"echo","params":{"ok":true}}\n');
    expect(await c.next()).toMatchObject({ id: 11, result: { ok: true } });
    // Answers carry their id: a slow call's answer may come after a later one's.
    c.send('{"jsonrpc":"2.0","id":12,"method":"slow"}\n{"jsonrpc":"2.0","id":13,"method":"echo"}\n');
    const two = [await c.next(), await c.next()];
    expect(two.map((a) => a.id).sort()).toEqual([12, 13]);
  });

  it('answers an overlong line with TOO_LARGE, closes that connection, and serves others', async () => {
    const c = await raw();
    c.send('x'.repeat(CONTROL.maxRequestBytes + 10));
    expect(await c.next()).toMatchObject({ id: null, error: { code: RPC_CODES.invalidRequest, data: { code: 'TOO_LARGE' } } });
    await c.closed;
    const { client, hello } = await ControlClient.open(socket, cookieFileFor(socket));
    expect(hello.methods).toEqual(expect.arrayContaining(['auth', 'subscribe', 'echo', 'refuse']));
    expect(await client.call('echo', {})).toEqual({});
    client.close();
  });

  it('streams the events a caller subscribed to, and only to it', async () => {
    const { client: listener } = await ControlClient.open(socket, cookieFileFor(socket));
    const { client: other } = await ControlClient.open(socket, cookieFileFor(socket));
    const heard: Array<[string, unknown]> = [];
    const otherHeard: unknown[] = [];
    listener.on('event', (name, params) => heard.push([name, params]));
    other.on('event', (name) => otherHeard.push(name));
    expect(await listener.call('subscribe', {})).toEqual({ events: ['tick'] });
    server.notify('tick', { n: 1 });
    await waitFor('the event', () => heard.length === 1);
    expect(heard).toEqual([['tick', { n: 1 }]]);
    expect(await listener.call('unsubscribe', { events: ['tick'] })).toEqual({ events: [] });
    server.notify('tick', { n: 2 });
    expect(await listener.call('echo', { after: true })).toEqual({ after: true });
    expect(heard).toHaveLength(1);
    expect(otherHeard).toEqual([]);
    expect(() => server.notify('other', {})).toThrow(/not one of this server's events/);
    listener.close();
    other.close();
  });

  it('gives a client typed errors: the node refusing, and the node gone', async () => {
    const { client } = await ControlClient.open(socket, cookieFileFor(socket));
    const refused = await client.call('refuse').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ControlError);
    expect(refused).toMatchObject({ code: 'BUSY', rpcCode: RPC_CODES.refused });
    await server.stop();
    await expect(client.call('echo')).rejects.toMatchObject({ code: 'NETWORK' });
    await expect(ControlClient.connect(socket)).rejects.toMatchObject({ code: 'NETWORK' });
    server = makeServer();
    await server.start();
  });

  it('refuses a wrong cookie file in the client, typed', async () => {
    await writeFile(join(dir, 'wrong.cookie'), Buffer.alloc(32, 7));
    await expect(ControlClient.open(socket, join(dir, 'wrong.cookie'))).rejects.toMatchObject({ code: 'UNAUTHORIZED', rpcCode: RPC_CODES.unauthorized });
    await expect(ControlClient.open(socket, join(dir, 'missing.cookie'))).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('refuses to start beside a live node, and replaces a socket left by a crash', async () => {
    const second = makeServer();
    await expect(second.start()).rejects.toMatchObject({ code: 'BUSY' });
    // The live node still serves, with the cookie it wrote.
    const { client } = await ControlClient.open(socket, cookieFileFor(socket));
    expect(await client.call('echo', { still: 'up' })).toEqual({ still: 'up' });
    client.close();
    await server.stop();

    // A socket file nobody listens on, as a node killed outright leaves it.
    const crashed = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(socket)}, () => console.log('up'))`], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await once(crashed.stdout!, 'data');
    crashed.kill('SIGKILL');
    await once(crashed, 'exit');
    expect((await stat(socket)).isSocket()).toBe(true);
    server = makeServer();
    await server.start();
    const reopened = await ControlClient.open(socket, cookieFileFor(socket));
    expect(await reopened.client.call('echo', { fresh: 1 })).toEqual({ fresh: 1 });
    reopened.client.close();

    // Something that is no socket is never removed.
    await server.stop();
    await writeFile(socket, 'a file of the user');
    await expect(makeServer().start()).rejects.toMatchObject({ code: 'USAGE' });
    expect(await readFile(socket, 'utf8')).toBe('a file of the user');
    await rm(socket);
    server = makeServer();
    await server.start();
  });
});
