// The runtime messages the background's wallet answers (target `wallet`):
// the offscreen engine's Earnings calls, and the popup's questions and
// actions. runtime.sendMessage carries JSON, so every byte string travels as
// lowercase hex; each message is read back into a fresh typed object with
// bounds before it is used, and every answer is a WalletReply, so a refusal
// crosses the page boundary as text instead of an exception that would not.

import { fromHex, toHex } from '../../protocol/bytes.ts';
import { MESSAGE_LIMITS, type ErrorCode } from '../../protocol/constants.ts';
import { isErrorCode, SchemaError, SpareCyclesError } from '../../protocol/errors.ts';
import type { ReceivedPay } from '../../worker/ports.ts';
import { LABEL_MAX } from '../../worker/wallet-data.ts';
import type { ExportedToken } from './wallet-store.ts';

/** ReceivedPay with its bytes in hex. */
export interface PayJson {
  keyset: string;
  signatures: Array<{ amount: number; C: string; e: string; s: string }>;
}

export type ToWallet =
  /** Earnings.request: blinded outputs for `amount` credits from `mint`, saved before the answer. */
  | { target: 'wallet'; kind: 'earnings-request'; mint: string; amount: number; label: string }
  /** Earnings.receive: the pay an accepted receipt carried. */
  | { target: 'wallet'; kind: 'earnings-receive'; mint: string; label: string; pay: PayJson }
  /** Earnings.forfeit: no pay is coming for this result. */
  | { target: 'wallet'; kind: 'earnings-forfeit'; label: string }
  /** The popup: what the wallet holds. */
  | { target: 'wallet'; kind: 'summary' }
  /** The popup: redeem every credit, of every mint, to the account in the settings. */
  | { target: 'wallet'; kind: 'redeem' }
  /** The popup: every credit as a token per mint; the credits leave the wallet. */
  | { target: 'wallet'; kind: 'export' };

export type WalletKind = ToWallet['kind'];

/** Every answer of the wallet: a value, or why not. */
export type WalletReply<T> = { ok: true; value: T } | { ok: false; error: string; code?: string };

export interface MintBalance {
  mint: string;
  /** What its credits add up to. */
  amount: number;
  /** How many credits (one denomination each) make it. */
  count: number;
}

export interface WalletSummary {
  total: number;
  count: number;
  /** One entry per mint, largest balance first. */
  mints: MintBalance[];
  /** Why the wallet cannot be opened, when it cannot (the credits stay in storage). */
  error?: string;
}

export interface RedeemOutcome {
  account: string;
  mints: Array<{
    mint: string;
    /** Credits the mint confirmed moving to the account. */
    redeemed: number;
    /** Credits dropped because the mint reported them spent already or invalid. */
    dropped: number;
    error?: string;
  }>;
}

export interface ExportOutcome {
  tokens: ExportedToken[];
  errors: Array<{ mint: string; error: string }>;
}

/** What each request is answered with. */
export interface WalletAnswers {
  'earnings-request': { outputs: string[] };
  'earnings-receive': { credits: number };
  'earnings-forfeit': null;
  summary: WalletSummary;
  redeem: RedeemOutcome;
  export: ExportOutcome;
}

/** A wallet message that does not read. */
export class WalletMessageError extends SchemaError {
  declare readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`, { field });
  }
}

// ---- bytes across the boundary ----------------------------------------------------------

export function payToJson(pay: ReceivedPay): PayJson {
  return {
    keyset: toHex(pay.keyset),
    signatures: pay.signatures.map((s) => ({ amount: s.amount, C: toHex(s.C), e: toHex(s.e), s: toHex(s.s) })),
  };
}

function hexField(value: unknown, field: string, bytes: number): Uint8Array {
  if (typeof value !== 'string' || value.length !== bytes * 2 || !/^[0-9a-f]*$/.test(value)) {
    throw new WalletMessageError(field, `expected ${bytes * 2} lowercase hex digits, got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 20)) : typeof value}`);
  }
  return fromHex(value);
}

function wholeNumber(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new WalletMessageError(field, `expected a whole number ${min}–${max}, got ${String(value)}`);
  }
  return value;
}

function textField(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value.length > max) throw new WalletMessageError(field, `expected text of at most ${max} characters, got ${typeof value}`);
  return value;
}

function list(value: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(value) || value.length < 1 || value.length > max) {
    throw new WalletMessageError(field, `expected a list of 1–${max}, got ${Array.isArray(value) ? value.length : typeof value}`);
  }
  return value;
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new WalletMessageError(field, `expected an object, got ${typeof value}`);
  return value as Record<string, unknown>;
}

/** PayJson back into a fresh ReceivedPay, with bounds. */
export function payFromJson(json: unknown): ReceivedPay {
  const p = object(json, 'pay');
  return {
    keyset: hexField(p.keyset, 'pay.keyset', 8),
    signatures: list(p.signatures, 'pay.signatures', MESSAGE_LIMITS.outputs).map((raw, i) => {
      const s = object(raw, `pay.signatures[${i}]`);
      return {
        amount: wholeNumber(s.amount, `pay.signatures[${i}].amount`, 1, Number.MAX_SAFE_INTEGER),
        C: hexField(s.C, `pay.signatures[${i}].C`, 32),
        e: hexField(s.e, `pay.signatures[${i}].e`, 32),
        s: hexField(s.s, `pay.signatures[${i}].s`, 32),
      };
    }),
  };
}

/** Blinded outputs (32-byte points) as hex. */
export function outputsToJson(outputs: readonly Uint8Array[]): string[] {
  return outputs.map(toHex);
}

export function outputsFromJson(json: unknown): Uint8Array[] {
  return list(json, 'outputs', MESSAGE_LIMITS.outputs).map((o, i) => hexField(o, `outputs[${i}]`, 32));
}

// ---- reading a request --------------------------------------------------------------------

/** Longest mint URL a request may name; the wallet checks it properly (worker/wallet-data.ts mintKey). */
const MINT_MAX = MESSAGE_LIMITS.mintUrlBytes;

/** An incoming message for the wallet, read into a fresh typed request. WalletMessageError if it does not read. */
export function readWalletRequest(message: unknown): ToWallet {
  const m = object(message, 'message');
  if (m.target !== 'wallet') throw new WalletMessageError('target', `expected "wallet", got ${JSON.stringify(m.target)}`);
  switch (m.kind) {
    case 'earnings-request':
      return {
        target: 'wallet',
        kind: 'earnings-request',
        mint: textField(m.mint, 'mint', MINT_MAX),
        amount: wholeNumber(m.amount, 'amount', 1, Number.MAX_SAFE_INTEGER),
        label: textField(m.label, 'label', LABEL_MAX),
      };
    case 'earnings-receive':
      return {
        target: 'wallet',
        kind: 'earnings-receive',
        mint: textField(m.mint, 'mint', MINT_MAX),
        label: textField(m.label, 'label', LABEL_MAX),
        pay: payToJson(payFromJson(m.pay)),
      };
    case 'earnings-forfeit':
      return { target: 'wallet', kind: 'earnings-forfeit', label: textField(m.label, 'label', LABEL_MAX) };
    case 'summary':
    case 'redeem':
    case 'export':
      return { target: 'wallet', kind: m.kind };
    default:
      throw new WalletMessageError('kind', `expected a wallet request, got ${JSON.stringify(String(m.kind).slice(0, 40))}`);
  }
}

// ---- answers ----------------------------------------------------------------------------

export function refusal(error: unknown): { ok: false; error: string; code?: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return {
    ok: false,
    error: error instanceof Error ? error.message : String(error),
    ...(typeof code === 'string' ? { code } : {}),
  };
}

/** A refusal that came back across the boundary, as an exception again, with the code it was sent with. */
export class WalletRefusedError extends SpareCyclesError {
  constructor(message: string, code: ErrorCode) {
    super(code, message);
  }
}

/**
 * The value of a reply, or WalletRefusedError: with the refusal's code, or
 * INTERNAL for a fault the other side did not name; anything that is not a
 * reply is refused as NETWORK (no background listening, say).
 */
export function unwrapReply<T>(reply: unknown, kind: WalletKind): T {
  const r = reply as Partial<{ ok: boolean; value: T; error: unknown; code: unknown }> | undefined | null;
  if (r && r.ok === true && 'value' in r) return r.value as T;
  if (r && r.ok === false) throw new WalletRefusedError(String(r.error), isErrorCode(r.code) ? r.code : 'INTERNAL');
  throw new WalletRefusedError(`the wallet did not answer ${kind}`, 'NETWORK');
}

/** The popup's questions and actions, answered by the background's wallet; a refusal throws WalletRefusedError. */
export async function askWallet<K extends 'summary' | 'redeem' | 'export'>(
  send: (message: ToWallet) => Promise<unknown>,
  kind: K,
): Promise<WalletAnswers[K]> {
  return unwrapReply<WalletAnswers[K]>(await send({ target: 'wallet', kind } as ToWallet), kind);
}
