// The local control API's server (docs/control-api.md): JSON-RPC 2.0 on a
// Unix socket that only this user can open, and a cookie file beside it that
// only this user can read, as Tor's control port does it. Whoever reads the
// cookie is this user, or root; the socket's mode keeps out the rest, and the
// cookie keeps out a process that can reach the socket but not the file.
//
// The node hands in its methods and the names of its events; the server owns
// the transport, the framing, the authentication and the `subscribe` call,
// so every long-running command serves the same protocol. A bad caller gets
// a JSON-RPC error and, at worst, a closed connection: never a crashed node.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { chmod, lstat, mkdir, rm, stat } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { SpareCyclesError } from '../protocol/errors.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import {
  CONTROL,
  ControlError,
  errorLine,
  LineSplitter,
  notificationLine,
  paramsObject,
  parseRequest,
  RequestError,
  resultLine,
  RPC_CODES,
  type RpcRequest,
} from './control-protocol.ts';

/** A method of the node's: params as sent (an object, checked by the method), its result as JSON. */
export type ControlMethod = (params: Record<string, unknown>) => unknown;

export interface ControlServerOptions {
  /** The socket's path; the cookie goes to `cookieFile`. */
  socket: string;
  cookieFile: string;
  /** Which node this is (worker, publish, relay, mint): told to a caller by `auth`. */
  role: string;
  methods: Record<string, ControlMethod>;
  /** The events a caller may subscribe to. */
  events: readonly string[];
}

export interface ControlServerEvents {
  /** A fault of the server's own or a method's (not a caller's mistake): the node may log it. */
  warning: [Error];
}

interface Connection {
  socket: Socket;
  authed: boolean;
  failures: number;
  /** Events this connection subscribed to. */
  events: Set<string>;
}

/** Methods every node serves; `auth` is the only one served before the cookie is shown. */
const BUILT_IN = ['auth', 'subscribe', 'unsubscribe'];

export class ControlServer extends EventEmitter<ControlServerEvents> {
  private server: Server | undefined;
  private cookie: Buffer | undefined;
  private readonly connections = new Set<Connection>();
  /** The socket file this server made, so that stop() never removes one another node made since. */
  private socketIno: number | undefined;

  constructor(private readonly options: ControlServerOptions) {
    super();
    for (const name of BUILT_IN) if (name in options.methods) throw new SpareCyclesError('USAGE', `${name} is the control server's own method`);
  }

  get socketPath(): string {
    return this.options.socket;
  }

  /**
   * Writes a fresh cookie and listens. A socket file that answers belongs
   * to a node still running, and this one refuses to start (BUSY); one that
   * does not answer was left by a crash, and is replaced.
   */
  async start(): Promise<void> {
    const { socket, cookieFile } = this.options;
    // Linux keeps 108 bytes of a socket's path; a longer one would be cut short and bound elsewhere.
    if (Buffer.byteLength(socket) > 100) throw new SpareCyclesError('USAGE', `the control socket's path is too long for a Unix socket (over 100 bytes): ${socket}`);
    await mkdir(dirname(socket), { recursive: true, mode: 0o700 });
    await clearStale(socket);
    this.cookie = randomBytes(CONTROL.cookieBytes);
    await writeFileAtomic(cookieFile, this.cookie);
    const server = createServer((s) => this.accept(s));
    server.maxConnections = CONTROL.maxConnections;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        // Another node bound it between our check and our bind.
        reject(error.code === 'EADDRINUSE' ? busy(socket) : error),
      );
      server.listen(socket, () => resolve());
    });
    server.on('error', (error) => this.emit('warning', error));
    this.server = server;
    // The folder is the user's own (0700) already; the mode is a second lock.
    await chmod(socket, 0o600);
    this.socketIno = (await stat(socket)).ino;
  }

  /** Sends an event to every connection subscribed to it. */
  notify(event: string, params: Record<string, unknown>): void {
    if (!this.options.events.includes(event)) throw new SpareCyclesError('USAGE', `${event} is not one of this server's events`);
    let line: string | undefined;
    for (const c of this.connections) {
      if (!c.events.has(event)) continue;
      line ??= notificationLine(event, params);
      this.send(c, line);
    }
  }

  /** Closes every connection, stops listening and removes the socket and the cookie. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const c of this.connections) c.socket.end();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A connection that does not finish its end in a moment is cut.
    const cut = setTimeout(() => {
      for (const c of this.connections) c.socket.destroy();
    }, 1_000);
    await closed;
    clearTimeout(cut);
    // Removed only if it is still the file this server bound (Node unlinks it on close, too, in most versions).
    const now = await stat(this.options.socket).catch(() => undefined);
    if (now && now.ino === this.socketIno) await rm(this.options.socket, { force: true });
    await rm(this.options.cookieFile, { force: true });
  }

  private accept(socket: Socket): void {
    const c: Connection = { socket, authed: false, failures: 0, events: new Set() };
    this.connections.add(c);
    const lines = new LineSplitter(CONTROL.maxRequestBytes);
    socket.on('data', (chunk: Buffer) => {
      let received: string[];
      try {
        received = lines.push(chunk);
      } catch (error) {
        // Nothing after an overlong line can be trusted to start a line: answered, then closed.
        this.send(c, errorLine(null, error as ControlError));
        socket.end();
        socket.pause();
        return;
      }
      for (const line of received) void this.handle(c, line);
    });
    socket.on('error', () => {}); // a caller that vanished: its connection goes, nothing else
    socket.on('close', () => this.connections.delete(c));
  }

  private async handle(c: Connection, line: string): Promise<void> {
    let request: RpcRequest;
    try {
      request = parseRequest(line);
    } catch (error) {
      const refused = error as RequestError;
      this.send(c, errorLine(refused.requestId, refused));
      return;
    }
    let answer: string;
    try {
      const result = await this.call(c, request);
      answer = resultLine(request.id, result);
    } catch (error) {
      answer = errorLine(request.id, this.asControlError(error));
    }
    if (request.answered) this.send(c, answer);
    if (!c.authed && c.failures >= CONTROL.maxAuthFailures) c.socket.end();
  }

  private async call(c: Connection, request: RpcRequest): Promise<unknown> {
    const params = paramsObject(request.params);
    if (request.method === 'auth') return this.auth(c, params);
    if (!c.authed) {
      c.failures++;
      throw new ControlError(RPC_CODES.unauthorized, 'UNAUTHORIZED', 'expected auth {cookie} first on this connection');
    }
    if (request.method === 'subscribe' || request.method === 'unsubscribe') return this.subscribe(c, request.method, params);
    const method = Object.hasOwn(this.options.methods, request.method) ? this.options.methods[request.method] : undefined;
    if (!method) throw new ControlError(RPC_CODES.methodNotFound, 'NOT_FOUND', `expected one of ${this.methodNames().join(', ')}, got ${request.method}`, { field: 'method' });
    return method(params);
  }

  private auth(c: Connection, params: Record<string, unknown>): unknown {
    const given = params.cookie;
    const ok =
      typeof given === 'string' &&
      /^[0-9a-f]+$/i.test(given) &&
      given.length === CONTROL.cookieBytes * 2 &&
      // The length is public; the bytes are compared in constant time.
      timingSafeEqual(Buffer.from(given, 'hex'), this.cookie!);
    if (!ok) {
      c.failures++;
      c.authed = false;
      throw new ControlError(RPC_CODES.unauthorized, 'UNAUTHORIZED', `expected the cookie from ${this.options.cookieFile} as ${CONTROL.cookieBytes * 2} hex digits`, { field: 'cookie' });
    }
    c.authed = true;
    return { api: CONTROL.version, role: this.options.role, methods: this.methodNames(), events: [...this.options.events] };
  }

  private subscribe(c: Connection, method: string, params: Record<string, unknown>): unknown {
    const named = params.events ?? [...this.options.events];
    if (!Array.isArray(named) || named.some((e) => typeof e !== 'string' || !this.options.events.includes(e))) {
      throw new ControlError(RPC_CODES.invalidParams, 'SCHEMA', `expected events to be a list from ${this.options.events.join(', ')}`, { field: 'events' });
    }
    for (const event of named as string[]) {
      if (method === 'subscribe') c.events.add(event);
      else c.events.delete(event);
    }
    return { events: [...c.events] };
  }

  private methodNames(): string[] {
    return [...BUILT_IN, ...Object.keys(this.options.methods)];
  }

  private asControlError(error: unknown): ControlError {
    if (error instanceof ControlError) return error;
    if (error instanceof SpareCyclesError) {
      const params = error.code === 'USAGE' || error.code === 'SCHEMA';
      return new ControlError(params ? RPC_CODES.invalidParams : RPC_CODES.refused, error.code, error.message, error.field ? { field: error.field } : {});
    }
    // A fault of the node's own: the caller learns that much, the node's log the rest.
    this.emit('warning', error as Error);
    return new ControlError(RPC_CODES.internal, 'INTERNAL', 'the node failed to answer this call');
  }

  private send(c: Connection, line: string): void {
    if (c.socket.destroyed || !c.socket.writable) return;
    // A caller that reads nothing while events pile up is dropped, not buffered without end.
    if (c.socket.writableLength > CONTROL.maxQueuedBytes) {
      c.socket.destroy();
      return;
    }
    c.socket.write(line);
  }
}

function busy(socket: string): SpareCyclesError {
  return new SpareCyclesError('BUSY', `another node is running with its control socket at ${socket}`);
}

/** Refuses a socket some node answers on; removes one nobody answers on (left by a crash). */
async function clearStale(socket: string): Promise<void> {
  const found = await lstat(socket).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!found) return;
  if (!found.isSocket()) throw new SpareCyclesError('USAGE', `${socket} is in the way of the control socket and is no socket: move it`);
  const live = await new Promise<boolean>((resolve, reject) => {
    const probe = createConnection(socket);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (error: NodeJS.ErrnoException) => {
      // Refused: nobody listens. Anything else (a socket of another user's) is not ours to remove.
      if (error.code === 'ECONNREFUSED') resolve(false);
      else reject(new SpareCyclesError('USAGE', `the control socket ${socket} cannot be probed: ${error.message}`, { cause: error }));
    });
  });
  if (live) throw busy(socket);
  await rm(socket, { force: true });
}
