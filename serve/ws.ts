// The little of the `ws` package the relay (and its tests) use, typed here:
// the package ships no types and this repository adds no @types packages.

import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';

/** WebSocket.OPEN. */
export const WS_OPEN = 1;

export interface WsSocket extends EventEmitter {
  readonly readyState: number;
  /** Bytes queued for sending and not yet handed to the kernel. */
  readonly bufferedAmount: number;
  send(data: Uint8Array | string, options?: { binary?: boolean }, callback?: (error?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(): void;
}

export interface WsServerOptions {
  noServer: true;
  /** Frames (and messages) larger than this close the connection with 1009. */
  maxPayload: number;
  clientTracking: boolean;
  perMessageDeflate: false;
}

export interface WsServer extends EventEmitter {
  readonly clients: Set<WsSocket>;
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, callback: (ws: WsSocket, request: IncomingMessage) => void): void;
  close(callback?: (error?: Error) => void): void;
}

export interface WsClientOptions {
  maxPayload?: number;
}

const ws = createRequire(import.meta.url)('ws') as {
  WebSocketServer: new (options: WsServerOptions) => WsServer;
  WebSocket: new (url: string, options?: WsClientOptions) => WsSocket;
};

export const WebSocketServer = ws.WebSocketServer;
/** The Node client, for tests and tools; browsers use their own WebSocket. */
export const WebSocketClient = ws.WebSocket;
