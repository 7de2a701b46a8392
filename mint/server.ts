// `cycles mint`'s HTTP server: the routes of protocol/mint-api.ts over a Mint. It
// reads bounded bodies, answers every refusal with a typed JSON error, charges
// each client IP the work its requests ask for (mint/work.ts; behind trusted
// reverse proxies, the IP they forward: client-address.ts), and allows any
// origin (CORS), since the extension's pages call it from their own origin and
// a mint's API is public anyway. A bad request is a warn line and a 4xx, and a
// client that hangs up is its own affair; only the mint's own faults are
// logged as errors and answered 500.
//
// POST /v1/oblivious carries any of those requests sealed to the mint's key
// (protocol/oblivious.ts): opened here, answered by the same handlers as
// plain HTTP (#answer), and the answer sealed back.

import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { jsonLogger, type Logger } from '../serve/log.ts';
import { fromUtf8, toBase64, toHex, utf8 } from '../protocol/bytes.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { MintError, NetworkError, SchemaError, SpareCyclesError, toErrorRecord } from '../protocol/errors.ts';
import { account as accountSchema } from '../protocol/messages/payment.ts';
import {
  MAX_BODY_BYTES,
  messageBytesOf,
  messageJson,
  ROUTES,
  stateQueryOf,
  STATUS_OF,
  type MintInfo,
  type ObliviousKeysJson,
} from '../protocol/mint-api.ts';
import {
  decapsulateRequest,
  decodeInnerRequest,
  encapsulateResponse,
  encodeInnerResponse,
  encodeKeyConfigs,
  MAX_REQUEST_BYTES,
  OBLIVIOUS,
  type InnerResponse,
} from '../protocol/oblivious.ts';
import { clientAddress, trustedProxies } from './client-address.ts';
import { MintMetrics } from './metrics.ts';
import type { Charge, Mint } from './mint.ts';
import { bodyWork, DEFAULT_BUDGET, RateLimitedError, WORK, WorkBudget, type BudgetOptions } from './work.ts';

export interface MintServerOptions {
  mint: Mint;
  port?: number;
  host?: string;
  log?: Logger;
  /** The work budget of each client IP (mint/work.ts); DEFAULT_BUDGET unless set. */
  budget?: BudgetOptions;
  /**
   * The addresses of reverse proxies in front of the mint (client-address.ts).
   * A request from one of them is charged to the client its X-Forwarded-For
   * names; from anyone else the header is ignored. None by default: the
   * header is then never read, since any client can write it.
   */
  trustProxy?: readonly string[];
}

export class MintServer {
  readonly mint: Mint;
  readonly #options: MintServerOptions;
  readonly #log: Logger;
  readonly #http: HttpServer;
  readonly #budget: WorkBudget;
  readonly #proxies: ReadonlySet<string>;
  readonly #metrics = new MintMetrics();
  readonly #sockets = new Set<Socket>();
  #started = 0;
  #sweep: NodeJS.Timeout | undefined;
  #url = '';
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  /** Binds nothing until start(). The mint is the caller's: stop() leaves it open. */
  constructor(options: MintServerOptions) {
    this.mint = options.mint;
    this.#options = options;
    this.#log = options.log ?? jsonLogger();
    this.#budget = new WorkBudget(options.budget ?? DEFAULT_BUDGET);
    this.#proxies = trustedProxies(options.trustProxy ?? []);
    this.#http = createServer((req, res) => void this.#handle(req, res));
    this.#http.on('connection', (socket) => {
      socket.setNoDelay(true);
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  /** Listens on the options' host and port (0 picks a free one). */
  start(): Promise<void> {
    if (this.#starting || this.#stopping) return Promise.reject(new SpareCyclesError('INTERNAL', 'mint server: start() after start() or stop()'));
    this.#starting = this.#listen();
    return this.#starting;
  }

  async #listen(): Promise<void> {
    const host = this.#options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.#http.once('error', reject);
      // A deep backlog: a burst of clients is queued by the kernel instead of dropped and retried seconds later.
      this.#http.listen({ port: this.#options.port ?? 0, host, backlog: 4096 }, () => {
        this.#http.off('error', reject);
        resolve();
      });
    });
    this.#http.on('error', (error: Error) => this.#log({ level: 'error', event: 'mint.server-error', message: error.message }));
    const address = this.#http.address();
    const port = typeof address === 'object' && address ? address.port : this.#options.port;
    this.#url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.#started = Date.now();
    this.#sweep = setInterval(() => this.#budget.sweep(), 60_000);
    this.#sweep.unref();
  }

  /** Closes the listening socket and every connection. Leaves the mint to its owner. Safe to call more than once, and before start(). */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#starting?.catch(() => {});
      clearInterval(this.#sweep);
      if (!this.#http.listening) return;
      const closed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
      this.#http.closeIdleConnections();
      for (const socket of this.#sockets) socket.destroy();
      await closed;
    })();
    return this.#stopping;
  }

  get url(): string {
    return this.#url;
  }

  health() {
    const totals = this.mint.ledger.totals();
    return {
      ok: true,
      uptimeS: this.#started ? Math.round((Date.now() - this.#started) / 1000) : 0,
      keyset: toHex(this.mint.activeKeyset.id),
      // Which ristretto255 backend checks credits: an operator can see the fast one is in use.
      curve: this.mint.curve.name,
      accounts: totals.accounts,
      outstanding: totals.issued - totals.spent,
      invariants: this.mint.ledger.checkInvariants(),
    };
  }

  metrics(): string {
    const t = this.mint.ledger.totals();
    return this.#metrics.render({
      uptimeS: this.#started ? (Date.now() - this.#started) / 1000 : 0,
      deposited: t.deposited,
      issued: t.issued,
      spent: t.spent,
      balances: t.balances,
      accounts: t.accounts,
      commitGroups: this.mint.ledger.stats.groups,
      committedRequests: this.mint.ledger.stats.grouped,
      commitSeconds: this.mint.ledger.stats.commitMs / 1000,
      walSyncs: this.mint.ledger.stats.syncs,
      walSyncSeconds: this.mint.ledger.stats.syncMs / 1000,
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    res.setHeader('access-control-allow-origin', '*');
    const path = (req.url ?? '/').split('?')[0]!;
    let route = 'unknown';
    try {
      if (req.method === 'OPTIONS') {
        route = 'preflight';
        res.writeHead(204, {
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': 'content-type',
          'access-control-max-age': '600',
        });
        res.end();
        return;
      }
      route = routeName(req.method, path) ?? 'unknown';
      const charge = this.#budget.chargerFor(clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], this.#proxies));
      // Charged before the body is read: what was declared now, the rest as it turns out.
      const declared = Number(req.headers['content-length'] ?? 0) || 0;
      charge(WORK.request + bodyWork(Math.min(declared, MAX_BODY_BYTES)));
      if (route === 'unknown') throw new MintError('NOT_FOUND', `no route ${req.method} ${path.slice(0, 64)}`);
      if (route === 'oblivious') {
        sendBytes(res, OBLIVIOUS.responseType, await this.#oblivious(req, charge, declared));
        this.#metrics.request(route, 'ok', performance.now() - started);
        return;
      }
      /** The JSON body, its bytes beyond those declared charged once read. */
      const body = async () => {
        const { bytes, size } = await readBody(req, MAX_BODY_BYTES);
        if (size > declared) charge(bodyWork(size - declared));
        return parseJson(bytes);
      };
      const answer = await this.#answer(route, path, charge, body);
      if (typeof answer === 'string') send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', answer);
      else send(res, 200, 'application/json', JSON.stringify(answer));
      this.#metrics.request(route, 'ok', performance.now() - started);
    } catch (error) {
      const refusal = this.#refusal(error, route);
      const headers: Record<string, string> = refusal instanceof RateLimitedError ? { 'retry-after': String(refusal.retryAfterS) } : {};
      // A client that hung up gets nothing: there is no one to send it to.
      if (!(refusal instanceof ClientGoneError)) {
        send(res, STATUS_OF[refusal.code] ?? 400, 'application/json', JSON.stringify({ error: toErrorRecord(refusal) }), headers);
      }
      this.#metrics.request(route, refusal instanceof ClientGoneError ? ClientGoneError.outcome : refusal.code, performance.now() - started);
    }
  }

  /**
   * POST /v1/oblivious: opens a sealed request, answers its inner request
   * through #answer (the very handlers of plain HTTP) and seals the answer.
   * A request that does not open is refused in the clear, counted, and
   * reaches no handler; every refusal after that travels sealed.
   */
  async #oblivious(req: IncomingMessage, charge: Charge, declared: number): Promise<Uint8Array> {
    let opened: ReturnType<typeof decapsulateRequest>;
    try {
      const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== OBLIVIOUS.requestType) {
        req.resume();
        throw new SchemaError(`content-type: expected ${OBLIVIOUS.requestType}, got ${JSON.stringify(type.slice(0, 64))}`, { field: 'content-type' });
      }
      const { bytes, size } = await readBody(req, MAX_REQUEST_BYTES);
      if (size > declared) charge(bodyWork(size - declared));
      charge(WORK.sealed);
      opened = decapsulateRequest(nodeCrypto, this.mint.obliviousKey, bytes);
    } catch (error) {
      // Counted like any refused request; a client that hung up refused nothing.
      if (error instanceof SpareCyclesError && !(error instanceof ClientGoneError)) this.mint.ledger.refused('oblivious', error.code);
      throw error;
    }
    const answer = await this.#inner(opened.request, charge);
    return encapsulateResponse(nodeCrypto, opened.context, encodeInnerResponse(answer));
  }

  /** The inner request of a sealed one, answered as plain HTTP would answer it: a refusal is an answer here too. */
  async #inner(bytes: Uint8Array, charge: Charge): Promise<InnerResponse> {
    const started = performance.now();
    let route = 'unknown';
    try {
      const request = decodeInnerRequest(bytes);
      const path = request.path.split('?')[0]!;
      route = routeName(request.method, path) ?? 'unknown';
      // A sealed request inside a sealed one would only cost twice.
      if (route === 'unknown' || route === 'oblivious' || route === 'obliviousKeys') {
        route = 'unknown';
        throw new MintError('NOT_FOUND', `no route ${request.method} ${path.slice(0, 64)} inside a sealed request`);
      }
      const answer = await this.#answer(route, path, charge, async () => parseJson(request.body));
      this.#metrics.request(route, 'ok', performance.now() - started);
      return { status: 200, body: utf8(typeof answer === 'string' ? answer : JSON.stringify(answer)) };
    } catch (error) {
      const refusal = this.#refusal(error, route, true);
      this.#metrics.request(route, refusal.code, performance.now() - started);
      return { status: STATUS_OF[refusal.code] ?? 400, body: utf8(JSON.stringify({ error: toErrorRecord(refusal) })) };
    }
  }

  async #answer(route: string, path: string, charge: Charge, body: () => Promise<unknown>): Promise<unknown> {
    switch (route) {
      case 'info':
        return { mint: toHex(this.mint.id), depositWindowMs: this.mint.depositWindowMs } satisfies MintInfo;
      case 'keys':
        return { keysets: this.mint.keysets() };
      case 'obliviousKeys':
        return { keys: toBase64(encodeKeyConfigs([this.mint.obliviousKey])) } satisfies ObliviousKeysJson;
      case 'health':
        charge(WORK.report);
        return this.health();
      case 'metrics':
        charge(WORK.report);
        return this.metrics();
      case 'account': {
        let name: string;
        try {
          name = decodeURIComponent(path.slice(ROUTES.accounts.length));
        } catch {
          name = '';
        }
        // An account is a key: anything else is not a name with no balance, it is a mistake to point out.
        const account = accountSchema.read(utf8(name), 'account');
        const balance = await this.mint.balance(account);
        if (balance === undefined) throw new MintError('UNKNOWN_ACCOUNT', `no account ${account}`, { field: 'account' });
        return { account, balance };
      }
      case 'state': {
        const Ys = stateQueryOf(await body());
        const states = await this.mint.state(Ys);
        return { states: Ys.map((Y, i) => ({ Y: toHex(Y), state: states[i] })) };
      }
      case 'deposit':
        return this.mint.deposit(messageBytesOf(await body()), charge);
      case 'pay':
        return messageJson(await this.mint.pay(messageBytesOf(await body()), charge));
      case 'redeem':
        return messageJson(await this.mint.redeem(messageBytesOf(await body()), charge));
    }
    throw new SpareCyclesError('INTERNAL', `route ${route} has no handler`);
  }

  #refusal(error: unknown, route: string, sealed = false): SpareCyclesError {
    if (error instanceof ClientGoneError) {
      this.#log({ level: 'debug', event: 'mint.client-gone', route });
      return error;
    }
    if (error instanceof SpareCyclesError) {
      // A flood would write a line a request: its refusals are counted in /metrics, and logged at debug only.
      const level = error instanceof RateLimitedError ? 'debug' : 'warn';
      this.#log({ level, event: 'mint.refused', route, code: error.code, field: error.field, ...(sealed ? { sealed } : {}) });
      return error;
    }
    this.#log({ level: 'error', event: 'mint.fault', route, message: String((error as Error)?.message ?? error), ...(sealed ? { sealed } : {}) });
    return new MintError('INTERNAL', 'the mint failed to answer; retry with the same request');
  }
}

const ROUTE_NAMES = new Map([
  [`GET ${ROUTES.info}`, 'info'],
  [`GET ${ROUTES.keys}`, 'keys'],
  [`POST ${ROUTES.deposit}`, 'deposit'],
  [`POST ${ROUTES.pay}`, 'pay'],
  [`POST ${ROUTES.redeem}`, 'redeem'],
  [`POST ${ROUTES.state}`, 'state'],
  [`GET ${ROUTES.obliviousKeys}`, 'obliviousKeys'],
  [`POST ${ROUTES.oblivious}`, 'oblivious'],
  ['GET /health', 'health'],
  ['GET /metrics', 'metrics'],
]);

/** The route a request is for, undefined for none. */
function routeName(method: string | undefined, path: string): string | undefined {
  const name = ROUTE_NAMES.get(`${method} ${path}`);
  if (name) return name;
  if (method === 'GET' && path.startsWith(ROUTES.accounts)) return 'account';
  return undefined;
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
  res.end(body);
}

function sendBytes(res: ServerResponse, type: string, body: Uint8Array): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * The client closed its connection before its body ended. Not a refusal (no
 * one is left to tell) and never the mint's fault: it is counted under its
 * own outcome, so a client cannot set off the alerts kept for INTERNAL.
 */
class ClientGoneError extends NetworkError {
  static readonly outcome = 'CLIENT_GONE';
  constructor(cause?: unknown) {
    super('the client closed the connection before its request body ended', { cause });
  }
}

/** Reads a body of at most `max` bytes; TOO_LARGE, or ClientGoneError if the client hangs up. */
async function readBody(req: IncomingMessage, max: number): Promise<{ bytes: Buffer; size: number }> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) {
    req.resume();
    throw new MintError('TOO_LARGE', `the body is ${declared} bytes; the mint reads at most ${max}`);
  }
  // Events, not `for await`: the async iterator cost about a tenth of the
  // mint's main-thread time per redeem.
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        // The rest is read and dropped (req flows on), so the connection stays usable.
        chunks.length = 0;
        reject(new MintError('TOO_LARGE', `the body is over ${max} bytes`));
      } else chunks.push(chunk);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    // An aborted body ends in 'error' (ECONNRESET) or only in 'close', depending on when the socket went.
    req.once('error', (cause) => reject(new ClientGoneError(cause)));
    req.once('close', () => {
      if (!req.complete) reject(new ClientGoneError());
    });
  });
  return { bytes: body, size: body.length };
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(fromUtf8(bytes));
  } catch (cause) {
    throw new SchemaError('expected a JSON body', { cause });
  }
}
