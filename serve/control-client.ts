// A caller of the local control API (docs/control-api.md): connects to a
// node's socket, shows the cookie, and calls methods; events the caller
// subscribed to come as `event`. Used by `cycles status` and the tests.

import { EventEmitter } from 'eventemitter3';
import { readFile } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { NetworkError, SpareCyclesError } from '../protocol/errors.ts';
import { CONTROL, ControlError, LineSplitter, requestLine, type RpcId } from './control-protocol.ts';

export interface ControlClientEvents {
  /** A notification: an event the caller subscribed to. */
  event: [string, Record<string, unknown>];
  /** The node closed the connection, or it broke. */
  close: [];
}

/** What `auth` tells a caller about the node. */
export interface ControlHello {
  api: number;
  role: string;
  methods: string[];
  events: string[];
}

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class ControlClient extends EventEmitter<ControlClientEvents> {
  private readonly waiting = new Map<RpcId, Waiting>();
  private nextId = 1;
  private closedWith: Error | undefined;

  private constructor(private readonly socket: Socket) {
    super();
    const lines = new LineSplitter(CONTROL.maxResponseBytes);
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const line of lines.push(chunk)) this.read(line);
      } catch (error) {
        this.fail(new NetworkError(`the node answered outside the protocol: ${(error as Error).message}`, { cause: error }));
      }
    });
    socket.on('error', (error) => this.fail(new NetworkError(`the control connection broke: ${error.message}`, { cause: error })));
    socket.on('close', () => this.fail(new NetworkError('the node closed the control connection')));
  }

  /** Connects to a node's socket; NETWORK if nothing listens there. */
  static connect(path: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      socket.once('connect', () => {
        socket.off('error', refused);
        resolve(new ControlClient(socket));
      });
      const refused = (error: NodeJS.ErrnoException) =>
        reject(new NetworkError(`no node answers on ${path} (${error.code ?? error.message})`, { cause: error }));
      socket.once('error', refused);
    });
  }

  /** Connects and authenticates with the cookie in `cookieFile`. */
  static async open(socket: string, cookieFile: string): Promise<{ client: ControlClient; hello: ControlHello }> {
    let cookie: Buffer;
    try {
      cookie = await readFile(cookieFile);
    } catch (error) {
      throw new SpareCyclesError('UNAUTHORIZED', `the control cookie ${cookieFile} does not read: ${(error as Error).message}`, { cause: error });
    }
    const client = await ControlClient.connect(socket);
    try {
      const hello = (await client.call('auth', { cookie: cookie.toString('hex') })) as ControlHello;
      return { client, hello };
    } catch (error) {
      client.close();
      throw error;
    }
  }

  /** Calls a method; rejects with the node's ControlError, or NETWORK if the connection goes first. */
  call(method: string, params?: Record<string, unknown>): Promise<unknown> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.socket.write(requestLine(id, method, params));
    });
  }

  close(): void {
    this.socket.destroy();
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  private read(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new SpareCyclesError('DECODE', 'expected a JSON line');
    }
    if (typeof message !== 'object' || message === null || message.jsonrpc !== '2.0') throw new SpareCyclesError('SCHEMA', 'expected a JSON-RPC 2.0 message');
    if (typeof message.method === 'string' && !('id' in message)) {
      const params = message.params;
      this.emit('event', message.method, typeof params === 'object' && params !== null ? (params as Record<string, unknown>) : {});
      return;
    }
    const waiting = this.waiting.get(message.id as RpcId);
    // An error answered with id null (a line the node could not read) belongs to the oldest call.
    const target = waiting ?? (message.id === null ? this.waiting.values().next().value : undefined);
    if (!target) return;
    this.waiting.delete(waiting ? (message.id as RpcId) : this.waiting.keys().next().value!);
    if ('error' in message) target.reject(ControlError.fromWire(message.error));
    else target.resolve(message.result);
  }

  private fail(error: Error): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.socket.destroy();
    for (const w of this.waiting.values()) w.reject(error);
    this.waiting.clear();
    this.emit('close');
  }
}
