// The local control API's wire (docs/control-api.md): JSON-RPC 2.0, one JSON
// object per line, on a Unix socket beside a cookie file. The server and the
// client both parse through here, so a line either side reads has the same
// bounds and the same errors.

import { ERROR_CODES, type ErrorCode } from '../protocol/constants.ts';
import { SpareCyclesError, type ErrorDetails } from '../protocol/errors.ts';

export const CONTROL = {
  /** The version of this API's methods and events, told by `auth`; JSON-RPC itself stays "2.0". */
  version: 1,
  /** The longest request line a server reads: every call is a few hundred bytes. */
  maxRequestBytes: 64 * 1024,
  /** The longest answer line a client reads: a status or a task list, with room to grow. */
  maxResponseBytes: 4 * 1024 * 1024,
  cookieBytes: 32,
  /** Calls refused for want of a cookie before the connection is closed. */
  maxAuthFailures: 3,
  /** Answers and events queued unread on one connection before it is dropped as too slow. */
  maxQueuedBytes: 4 * 1024 * 1024,
  maxConnections: 16,
} as const;

/** JSON-RPC 2.0's own codes, and this API's (−32000 and below, as the spec reserves for servers). */
export const RPC_CODES = {
  parse: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  /** The node refused the call itself: the `data.code` says why (BUSY, NOT_FOUND, …). */
  refused: -32000,
  /** No cookie given yet on this connection, or a wrong one. */
  unauthorized: -32001,
} as const;

export type RpcId = string | number | null;

export interface RpcRequest {
  id: RpcId;
  /** False for a notification (no `id`): it gets no answer, not even an error. */
  answered: boolean;
  method: string;
  params: unknown;
}

export interface RpcErrorObject {
  code: number;
  message: string;
  data?: { code: ErrorCode; field?: string };
}

/**
 * A call refused over the control API. `rpcCode` is the JSON-RPC error code
 * on the wire; `code` the repo's own (SCHEMA, UNAUTHORIZED, …), sent as `data.code`.
 */
export class ControlError extends SpareCyclesError {
  readonly rpcCode: number;
  constructor(rpcCode: number, code: ErrorCode, message: string, details?: ErrorDetails) {
    super(code, message, details);
    this.rpcCode = rpcCode;
  }

  toJSON(): RpcErrorObject {
    return { code: this.rpcCode, message: this.message, data: { code: this.code, ...(this.field ? { field: this.field } : {}) } };
  }

  /** The error a caller reads from an answer's `error`; anything malformed in it reads as PROTOCOL. */
  static fromWire(error: unknown): ControlError {
    const e = (error ?? {}) as Partial<RpcErrorObject>;
    const rpcCode = Number.isInteger(e.code) ? (e.code as number) : RPC_CODES.internal;
    const code = (ERROR_CODES as readonly string[]).includes(e.data?.code as string) ? (e.data!.code as ErrorCode) : 'PROTOCOL';
    const message = typeof e.message === 'string' ? e.message.slice(0, 1000) : 'an error without a message';
    return new ControlError(rpcCode, code, message, typeof e.data?.field === 'string' ? { field: e.data.field } : {});
  }
}

/** The answer to a call, as one line. */
export function resultLine(id: RpcId, result: unknown): string {
  return `${JSON.stringify({ jsonrpc: '2.0', id, result: result ?? null })}\n`;
}

export function errorLine(id: RpcId, error: ControlError): string {
  return `${JSON.stringify({ jsonrpc: '2.0', id, error: error.toJSON() })}\n`;
}

/** An event, as a JSON-RPC notification: the method is the event's name. */
export function notificationLine(method: string, params: unknown): string {
  return `${JSON.stringify({ jsonrpc: '2.0', method, params })}\n`;
}

export function requestLine(id: RpcId, method: string, params?: unknown): string {
  return `${JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) })}\n`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is RpcId => v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

/**
 * Reads one request line. A line that is not JSON, or not a JSON-RPC 2.0
 * request, throws a ControlError carrying the id when one could be read
 * (`id` on the error's `requestId`), so the caller can still be answered.
 */
export function parseRequest(line: string): RpcRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new RequestError(null, RPC_CODES.parse, 'DECODE', 'expected a JSON object on one line, got text that does not parse');
  }
  // Batches are JSON-RPC's, not ours: one call a line keeps the answers in order and the bounds simple.
  if (!isObject(value)) throw new RequestError(null, RPC_CODES.invalidRequest, 'SCHEMA', `expected a request object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  const answered = 'id' in value;
  const id = answered && isId(value.id) ? value.id : null;
  if (answered && !isId(value.id)) throw new RequestError(null, RPC_CODES.invalidRequest, 'SCHEMA', 'expected id to be a string, a number or null', 'id');
  if (value.jsonrpc !== '2.0') throw new RequestError(id, RPC_CODES.invalidRequest, 'VERSION', `expected jsonrpc "2.0", got ${JSON.stringify(value.jsonrpc)}`, 'jsonrpc');
  if (typeof value.method !== 'string' || value.method.length === 0 || value.method.length > 64) {
    throw new RequestError(id, RPC_CODES.invalidRequest, 'SCHEMA', 'expected method to be a name of 1 to 64 characters', 'method');
  }
  if ('params' in value && !isObject(value.params) && !Array.isArray(value.params)) {
    throw new RequestError(id, RPC_CODES.invalidRequest, 'SCHEMA', 'expected params to be an object or an array', 'params');
  }
  return { id, answered, method: value.method, params: value.params };
}

/** A request refused before its method ran: answered with the id it carried, if any. */
export class RequestError extends ControlError {
  readonly requestId: RpcId;
  constructor(id: RpcId, rpcCode: number, code: ErrorCode, message: string, field?: string) {
    super(rpcCode, code, message, field ? { field } : {});
    this.requestId = id;
  }
}

/** The named-parameter object of a call (none at all reads as `{}`); positional params are refused. */
export function paramsObject(params: unknown): Record<string, unknown> {
  if (params === undefined) return {};
  if (!isObject(params)) throw new ControlError(RPC_CODES.invalidParams, 'SCHEMA', 'expected params to be an object of named parameters', { field: 'params' });
  return params;
}

/**
 * Splits a byte stream into lines of at most `maxBytes`. A line past the
 * bound throws (the connection is then closed: nothing after it can be
 * trusted to start a line), and nothing of it is kept.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private length = 0;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      this.add(chunk.subarray(start, nl));
      const line = Buffer.concat(this.parts, this.length).toString('utf8').replace(/\r$/, '');
      this.parts = [];
      this.length = 0;
      if (line.trim() !== '') lines.push(line);
      start = nl + 1;
    }
    this.add(chunk.subarray(start));
    return lines;
  }

  private add(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.length += bytes.length;
    if (this.length > this.maxBytes) {
      this.parts = [];
      this.length = 0;
      throw new ControlError(RPC_CODES.invalidRequest, 'TOO_LARGE', `expected a line of at most ${this.maxBytes} bytes, got more`);
    }
    this.parts.push(Buffer.from(bytes));
  }
}
