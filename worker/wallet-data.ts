// What a wallet keeps, in the form it is stored: plain JSON with hex strings,
// versioned, so the CLI's file and the extension's storage hold the same
// thing. Everything read back is validated field by field; a wallet that
// does not read is an error naming the field, never a wallet with a credit
// quietly missing. Platform-neutral: no node: imports.

import { fromHex } from '../protocol/bytes.ts';
import { MESSAGE_LIMITS, type ErrorCode } from '../protocol/constants.ts';
import { isDenomination } from '../protocol/credits/keyset.ts';
import { MINT_URL_PATTERN } from '../protocol/credits/token.ts';
import { SpareCyclesError, type ErrorDetails } from '../protocol/errors.ts';
import { decodeMessage } from '../protocol/messages/index.ts';

/**
 * The stored version. 1: pending outputs without `created`. 2: each pending
 * output has the time it was made, so one no pay answers can expire. Older
 * versions are migrated as they are read (migrateWalletData); the wallet
 * writes the current one.
 */
export const WALLET_VERSION = 2;
/** Longest label a pending output may carry (a task and unit, a swap's request id). */
export const LABEL_MAX = 256;

/** A credit the wallet holds: spendable at `mint` by whoever knows x. */
export interface StoredCredit {
  /** The mint's URL, without a trailing slash. */
  mint: string;
  /** Keyset id, 16 hex digits. */
  keyset: string;
  amount: number;
  /** The secret, 64 hex digits. */
  x: string;
  /** C = k·hash_to_curve(x), 64 hex digits. */
  C: string;
}

/** A blinded output handed out and not yet signed: x and r are what turn its signature into a credit. */
export interface PendingOutput {
  mint: string;
  amount: number;
  x: string;
  /** The blinding factor, a scalar, 64 hex digits. */
  r: string;
  /** B = hash_to_curve(x) + r·G, 64 hex digits. */
  B: string;
  /** Who the output was handed to, so a restarted worker can find it again. */
  label: string;
  /** When it was made (Unix ms): an output no pay answers for long is dropped (PAY_LIMITS.pendingOutputMs). */
  created: number;
}

/**
 * A redeem request written down before it was sent and kept until the mint
 * answered it. Its credits stay in `credits` meanwhile; a retry sends these
 * very bytes, and the mint answers a request it already applied with the
 * same answer.
 */
export interface PendingRedeem {
  mint: string;
  /** The canonical redeem message, hex. */
  message: string;
}

export interface WalletData {
  v: typeof WALLET_VERSION;
  credits: StoredCredit[];
  pending: PendingOutput[];
  redeems: PendingRedeem[];
}

/** Where a wallet lives: a file (worker/node/wallet-file.ts), extension storage, memory. */
export interface WalletStore {
  /** The stored data as it was saved, or undefined when there is no wallet yet. */
  load(): Promise<unknown | undefined>;
  /** Replaces the stored data; resolves once it is durable. */
  save(data: WalletData): Promise<void>;
  /**
   * For a store other processes may change too: holds it for one change and
   * resolves with the release. The wallet then reads the stored data again
   * before changing it, so no process's change overwrites another's.
   */
  lock?(): Promise<() => Promise<void>>;
}

export type WalletErrorCode = Extract<
  ErrorCode,
  /** Stored data that does not read as a wallet. */
  | 'FORMAT'
  /** Stored data of a version this wallet does not read. */
  | 'VERSION'
  /** A blind signature whose DLEQ proof does not verify against the keyset. */
  | 'PROOF'
  /** Signatures that do not fit the outputs: another count, another amount, a key the keyset lacks. */
  | 'MISMATCH'
  /** A signature for a blinded output this wallet did not hand out, or already received. */
  | 'UNKNOWN_OUTPUT'
  /** Not enough credits. */
  | 'FUNDS'
  /** Credits that cover an amount but cannot make it exactly. */
  | 'CHANGE'
  /** Credits of several mints where one must be named. */
  | 'MINT'
  /** Another process held the wallet for longer than a change may wait. */
  | 'BUSY'
>;

/** A wallet's own refusal. Nothing changed: the wallet is as it was before the call. */
export class WalletError extends SpareCyclesError {
  declare readonly code: WalletErrorCode;
  constructor(code: WalletErrorCode, message: string, details?: ErrorDetails) {
    super(code, message, details);
  }
}

export function emptyWallet(): WalletData {
  return { v: WALLET_VERSION, credits: [], pending: [], redeems: [] };
}

/** A mint URL as the wallet files credits under it: validated, without a trailing slash (as MintClient has it). */
export function mintKey(url: string, field = 'mint'): string {
  const key = typeof url === 'string' ? url.replace(/\/+$/, '') : '';
  if (!MINT_URL_PATTERN.test(key) || new TextEncoder().encode(key).length > MESSAGE_LIMITS.mintUrlBytes) {
    throw new WalletError('FORMAT', `${field}: expected a mint's http(s) URL, got ${JSON.stringify(String(url).slice(0, 64))}`, { field });
  }
  return key;
}

// ---- Reading stored data ----------------------------------------------------------------------

function fail(field: string, expected: string, value: unknown): never {
  const got = value === undefined ? 'nothing' : typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value;
  throw new WalletError('FORMAT', `wallet ${field}: expected ${expected}, got ${got}`, { field });
}

function record(value: unknown, field: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'an object', value);
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw new WalletError('FORMAT', `wallet ${field}: unexpected field ${JSON.stringify(key.slice(0, 40))}`, { field: `${field}.${key}` });
  }
  return value as Record<string, unknown>;
}

function array(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) fail(field, 'a list', value);
  return value;
}

function hex(value: unknown, field: string, bytes: number): string {
  if (typeof value !== 'string' || value.length !== bytes * 2 || !/^[0-9a-f]*$/.test(value)) fail(field, `${bytes * 2} lowercase hex digits`, value);
  return value;
}

function amount(value: unknown, field: string): number {
  if (typeof value !== 'number' || !isDenomination(value)) fail(field, 'a denomination (a power of two)', value);
  return value;
}

function mint(value: unknown, field: string): string {
  if (typeof value !== 'string' || mintKey(value, field) !== value) fail(field, 'a mint URL without a trailing slash', value);
  return value;
}

function readCredit(value: unknown, field: string): StoredCredit {
  const c = record(value, field, ['mint', 'keyset', 'amount', 'x', 'C']);
  return {
    mint: mint(c.mint, `${field}.mint`),
    keyset: hex(c.keyset, `${field}.keyset`, 8),
    amount: amount(c.amount, `${field}.amount`),
    x: hex(c.x, `${field}.x`, 32),
    C: hex(c.C, `${field}.C`, 32),
  };
}

function readPending(value: unknown, field: string): PendingOutput {
  const p = record(value, field, ['mint', 'amount', 'x', 'r', 'B', 'label', 'created']);
  if (typeof p.label !== 'string' || p.label.length > LABEL_MAX) fail(`${field}.label`, `text of at most ${LABEL_MAX} characters`, p.label);
  if (typeof p.created !== 'number' || !Number.isSafeInteger(p.created) || p.created < 0) fail(`${field}.created`, 'a time in milliseconds', p.created);
  return {
    mint: mint(p.mint, `${field}.mint`),
    amount: amount(p.amount, `${field}.amount`),
    x: hex(p.x, `${field}.x`, 32),
    r: hex(p.r, `${field}.r`, 32),
    B: hex(p.B, `${field}.B`, 32),
    label: p.label,
    created: p.created,
  };
}

function readRedeem(value: unknown, field: string): PendingRedeem {
  const r = record(value, field, ['mint', 'message']);
  const message = r.message;
  if (typeof message !== 'string' || message.length % 2 !== 0 || !/^[0-9a-f]+$/.test(message)) fail(`${field}.message`, 'hex', message);
  let t: string;
  try {
    t = decodeMessage(fromHex(message)).t;
  } catch (cause) {
    throw new WalletError('FORMAT', `wallet ${field}.message: expected a redeem message, got bytes that do not decode`, { field: `${field}.message`, cause });
  }
  if (t !== 'redeem') throw new WalletError('FORMAT', `wallet ${field}.message: expected a redeem message, got ${t}`, { field: `${field}.message` });
  return { mint: mint(r.mint, `${field}.mint`), message };
}

function unique<T>(items: readonly T[], key: (item: T) => string, field: (i: number) => string): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(key(item))) throw new WalletError('FORMAT', `wallet ${field(i)}: appears twice`, { field: field(i) });
    seen.add(key(item));
  });
}

/**
 * One step from each older stored version to the next. A step only adds
 * what the next version needs; reading checks everything afterwards.
 */
const MIGRATIONS: Record<number, (d: Record<string, unknown>, now: number) => Record<string, unknown>> = {
  // Outputs made before versions had times count from the migration: none expires at once.
  1: (d, now) => ({
    ...d,
    v: 2,
    pending: Array.isArray(d.pending) ? d.pending.map((p: unknown) => (typeof p === 'object' && p !== null ? { ...p, created: now } : p)) : d.pending,
  }),
};

/**
 * Stored data of an older version brought up to WALLET_VERSION, as a new
 * object (the input is not changed); anything else is returned as it is,
 * for readWalletData to accept or refuse.
 */
export function migrateWalletData(json: unknown, now: number = Date.now()): unknown {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return json;
  let d = json as Record<string, unknown>;
  while (typeof d.v === 'number' && d.v < WALLET_VERSION && MIGRATIONS[d.v]) d = MIGRATIONS[d.v]!(d, now);
  return d;
}

/**
 * Reads stored data into a fresh, validated WalletData, migrating an older
 * version first (`now` dates what it could not know). WalletError (FORMAT or
 * VERSION) naming the field otherwise.
 */
export function readWalletData(json: unknown, now: number = Date.now()): WalletData {
  const d = record(migrateWalletData(json, now), 'data', ['v', 'credits', 'pending', 'redeems']);
  if (typeof d.v !== 'number') fail('v', 'a version number', d.v);
  if (d.v !== WALLET_VERSION) {
    throw new WalletError('VERSION', `wallet: version ${d.v}; this wallet reads version ${WALLET_VERSION}`, { field: 'v' });
  }
  const out: WalletData = {
    v: WALLET_VERSION,
    credits: array(d.credits, 'credits').map((c, i) => readCredit(c, `credits[${i}]`)),
    pending: array(d.pending, 'pending').map((p, i) => readPending(p, `pending[${i}]`)),
    redeems: array(d.redeems, 'redeems').map((r, i) => readRedeem(r, `redeems[${i}]`)),
  };
  unique(out.credits, (c) => c.x, (i) => `credits[${i}].x`);
  unique(out.pending, (p) => p.B, (i) => `pending[${i}].B`);
  return out;
}

/** A store in memory, for tests and for a wallet that should not outlive its page. Saves a copy, as a real store would. */
export function memoryWalletStore(initial?: unknown): WalletStore & { data: unknown } {
  const store = {
    data: initial === undefined ? undefined : structuredClone(initial),
    load: async () => (store.data === undefined ? undefined : structuredClone(store.data)),
    save: async (data: WalletData) => void (store.data = structuredClone(data)),
  };
  return store;
}
