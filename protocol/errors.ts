// Typed errors. Each carries a stable `code` (listed in constants.ts so the
// wire can name it), the offending `field` where there is one, and a `cause`.
// Match on `code` or `instanceof`, never on message text.

import type { ErrorCode } from './constants.ts';

export interface ErrorDetails {
  field?: string;
  cause?: unknown;
}

export class SpareCyclesError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.field = details.field;
  }
}

/** Bytes that are not well-formed in the canonical encoding. */
export class DecodeError extends SpareCyclesError {
  constructor(message: string, details?: ErrorDetails) {
    super('DECODE', message, details);
  }
}

/** Well-formed bytes whose content breaks a schema: a wrong type, a missing field, a value out of range. */
export class SchemaError extends SpareCyclesError {
  constructor(message: string, details?: ErrorDetails) {
    super('SCHEMA', message, details);
  }
}

/** A message of a version or type this implementation does not speak. */
export class VersionError extends SpareCyclesError {
  readonly got: unknown;
  constructor(message: string, got: unknown, details?: ErrorDetails) {
    super('VERSION', message, details);
    this.got = got;
  }
}

/** A key of the wrong length or an encoding that is not a valid point. */
export class KeyError extends SpareCyclesError {
  constructor(message: string, details?: ErrorDetails) {
    super('KEY', message, details);
  }
}

/** A signature that does not verify: forged, over another domain, or not canonical. */
export class SignatureError extends SpareCyclesError {
  constructor(message: string, details?: ErrorDetails) {
    super('SIGNATURE', message, details);
  }
}

/** Content whose hash is not the one it was announced with. */
export class HashMismatchError extends SpareCyclesError {
  constructor(message: string, details?: ErrorDetails) {
    super('HASH_MISMATCH', message, details);
  }
}

/** A well-formed, well-signed message that breaks the conversation: out of turn, for another task, or from a key its channel did not greet with. */
export class ProtocolError extends SpareCyclesError {
  constructor(message: string, details?: ErrorDetails) {
    super('PROTOCOL', message, details);
  }
}

/**
 * A task wire's Noise session failed (protocol/noise.ts, handshake.ts): a
 * handshake message of the wrong length, one that does not decrypt (another
 * key, a replayed or relayed answer), a small-order key, an identity that
 * does not vouch for its static key, a replayed first message, or a later
 * frame that does not authenticate. The session is over; nothing it carried
 * is trusted.
 */
export class HandshakeError extends SpareCyclesError {
  constructor(message: string, details?: ErrorDetails) {
    super('HANDSHAKE', message, details);
  }
}

/**
 * The other end could not be reached, dropped the connection, or answered
 * outside its protocol (an HTTP status without a typed error, a body that does
 * not read). `status` is the HTTP status when there was an answer.
 */
export class NetworkError extends SpareCyclesError {
  readonly status: number | undefined;
  constructor(message: string, details: ErrorDetails & { status?: number } = {}) {
    super('NETWORK', message, details);
    this.status = details.status;
  }
}

/**
 * A caller broke a function's contract: an argument out of its range or of
 * the wrong kind. A bug in the calling code, never something a peer sent.
 */
export class UsageError extends SpareCyclesError {
  constructor(message: string, details?: ErrorDetails) {
    super('USAGE', message, details);
  }
}

/** No answer within a deadline. */
export class TimeoutError extends SpareCyclesError {
  constructor(message: string, details?: ErrorDetails) {
    super('TIMEOUT', message, details);
  }
}

/** Errors from running one unit. The runner survives each of them. */
export class UnitError extends SpareCyclesError {}

export class UnitTimeoutError extends UnitError {
  constructor(message: string, details?: ErrorDetails) {
    super('UNIT_TIMEOUT', message, details);
  }
}

export class UnitMemoryError extends UnitError {
  constructor(message: string, details?: ErrorDetails) {
    super('UNIT_MEMORY', message, details);
  }
}

export class UnitTrapError extends UnitError {
  constructor(message: string, details?: ErrorDetails) {
    super('UNIT_TRAP', message, details);
  }
}

/** A module that breaks the unit ABI: a foreign import, a missing export, its own memory. */
export class UnitAbiError extends UnitError {
  constructor(message: string, details?: ErrorDetails) {
    super('UNIT_ABI', message, details);
  }
}

/** The worker thread running a unit died for a reason of its own. */
export class UnitCrashError extends UnitError {
  constructor(message: string, details?: ErrorDetails) {
    super('UNIT_CRASH', message, details);
  }
}

export type MintErrorCode = Extract<
  ErrorCode,
  | 'ALREADY_SPENT'
  | 'INVALID_CREDIT'
  | 'UNKNOWN_KEYSET'
  | 'AMOUNT'
  | 'INSUFFICIENT_FUNDS'
  | 'UNKNOWN_ACCOUNT'
  | 'UNAUTHORIZED'
  | 'REQUEST_REUSED'
  | 'TOO_LARGE'
  | 'RATE_LIMITED'
  | 'NOT_FOUND'
  | 'INTERNAL'
  | 'ALREADY_SIGNED'
  | 'WRONG_MINT'
  | 'STALE'
>;

/**
 * A mint's refusal. A refused request changed nothing in the ledger; the code
 * says why: ALREADY_SPENT (a credit's Y is spent), INVALID_CREDIT (C is not
 * k·H(x)), UNKNOWN_KEYSET, AMOUNT (not a denomination, or a swap that does not
 * balance), INSUFFICIENT_FUNDS, UNKNOWN_ACCOUNT, UNAUTHORIZED (a signer the
 * mint does not accept), REQUEST_REUSED (an id already used for another
 * request), TOO_LARGE, RATE_LIMITED, NOT_FOUND (no such route), INTERNAL (the
 * mint's own fault: retry the same request), ALREADY_SIGNED (a blinded output
 * it signed before), WRONG_MINT (a deposit for another mint), STALE (a deposit
 * outside the mint's time window).
 */
export class MintError extends SpareCyclesError {
  declare readonly code: MintErrorCode;
  constructor(code: MintErrorCode, message: string, details?: ErrorDetails) {
    super(code, message, details);
  }
}

export type OnionErrorCode = Extract<ErrorCode, 'ONION_MAC' | 'ONION_REPLAY' | 'ONION_PAYLOAD' | 'ONION_EPOCH'>;

/**
 * An onion packet refused (protocol/onion/): ONION_MAC (a header that does
 * not authenticate at this hop), ONION_REPLAY (a replay tag seen before in
 * its epoch), ONION_PAYLOAD (a payload tampered on the way), ONION_EPOCH (an
 * onion-key epoch with no key here). The packet is dropped; nothing else changes.
 */
export class OnionError extends SpareCyclesError {
  declare readonly code: OnionErrorCode;
  constructor(code: OnionErrorCode, message: string, details?: ErrorDetails) {
    super(code, message, details);
  }
}

function onionErrorOf(code: OnionErrorCode) {
  return class extends OnionError {
    constructor(message: string, details?: ErrorDetails) {
      super(code, message, details);
      this.name = 'OnionError';
    }
  };
}

/**
 * An HPKE-sealed message that does not open (protocol/hpke.ts, oblivious.ts):
 * tampered with, cut short, or sealed to another key or context. Nothing in
 * it is read.
 */
export class DecryptError extends SpareCyclesError {
  constructor(message: string, details?: ErrorDetails) {
    super('DECRYPT', message, details);
  }
}

/** A rebuilt error whose own class lives outside protocol/ (a usage error, a wallet's refusal): its code, message and field survive. */
function codedError(code: ErrorCode) {
  return class extends SpareCyclesError {
    constructor(message: string, details?: ErrorDetails) {
      super(code, message, details);
      this.name = 'SpareCyclesError';
    }
  };
}

function mintErrorOf(code: MintErrorCode) {
  return class extends MintError {
    constructor(message: string, details?: ErrorDetails) {
      super(code, message, details);
      // Rebuilt errors read as what they are: `MintError`, not an anonymous class.
      this.name = 'MintError';
    }
  };
}

/** The plain form of an error that crosses a thread or the wire. */
export interface ErrorRecord {
  code: ErrorCode;
  message: string;
  field?: string;
}

export function toErrorRecord(error: SpareCyclesError): ErrorRecord {
  return error.field === undefined
    ? { code: error.code, message: error.message }
    : { code: error.code, message: error.message, field: error.field };
}

const BY_CODE: Record<ErrorCode, new (message: string, details?: ErrorDetails) => SpareCyclesError> = {
  DECODE: DecodeError,
  SCHEMA: SchemaError,
  VERSION: class extends VersionError {
    constructor(message: string, details?: ErrorDetails) {
      super(message, undefined, details);
      this.name = 'VersionError';
    }
  },
  KEY: KeyError,
  SIGNATURE: SignatureError,
  HASH_MISMATCH: HashMismatchError,
  PROTOCOL: ProtocolError,
  HANDSHAKE: HandshakeError,
  UNIT_TIMEOUT: UnitTimeoutError,
  UNIT_MEMORY: UnitMemoryError,
  UNIT_TRAP: UnitTrapError,
  UNIT_ABI: UnitAbiError,
  UNIT_CRASH: UnitCrashError,
  ALREADY_SPENT: mintErrorOf('ALREADY_SPENT'),
  INVALID_CREDIT: mintErrorOf('INVALID_CREDIT'),
  UNKNOWN_KEYSET: mintErrorOf('UNKNOWN_KEYSET'),
  AMOUNT: mintErrorOf('AMOUNT'),
  INSUFFICIENT_FUNDS: mintErrorOf('INSUFFICIENT_FUNDS'),
  UNKNOWN_ACCOUNT: mintErrorOf('UNKNOWN_ACCOUNT'),
  UNAUTHORIZED: mintErrorOf('UNAUTHORIZED'),
  REQUEST_REUSED: mintErrorOf('REQUEST_REUSED'),
  TOO_LARGE: mintErrorOf('TOO_LARGE'),
  RATE_LIMITED: mintErrorOf('RATE_LIMITED'),
  NOT_FOUND: mintErrorOf('NOT_FOUND'),
  INTERNAL: mintErrorOf('INTERNAL'),
  ALREADY_SIGNED: mintErrorOf('ALREADY_SIGNED'),
  WRONG_MINT: mintErrorOf('WRONG_MINT'),
  STALE: mintErrorOf('STALE'),
  NETWORK: NetworkError,
  TIMEOUT: TimeoutError,
  BUSY: codedError('BUSY'),
  USAGE: UsageError,
  FORMAT: codedError('FORMAT'),
  MISMATCH: codedError('MISMATCH'),
  UNKNOWN_OUTPUT: codedError('UNKNOWN_OUTPUT'),
  PROOF: codedError('PROOF'),
  FUNDS: codedError('FUNDS'),
  CHANGE: codedError('CHANGE'),
  MINT: codedError('MINT'),
  NO_ACCOUNT: codedError('NO_ACCOUNT'),
  ONION_MAC: onionErrorOf('ONION_MAC'),
  ONION_REPLAY: onionErrorOf('ONION_REPLAY'),
  ONION_PAYLOAD: onionErrorOf('ONION_PAYLOAD'),
  ONION_EPOCH: onionErrorOf('ONION_EPOCH'),
  DECRYPT: DecryptError,
};

/** Whether a string from the wire or another thread is one of our codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(BY_CODE, code);
}

/** Rebuilds the typed error a record names; an unknown code becomes a crash, never a silent success. */
export function fromErrorRecord(record: ErrorRecord): SpareCyclesError {
  const make = Object.hasOwn(BY_CODE, record.code) ? BY_CODE[record.code] : UnitCrashError;
  return new make(String(record.message), record.field === undefined ? {} : { field: record.field });
}

const PEER_FAULTS: ReadonlySet<string> = new Set(['DECODE', 'SCHEMA', 'VERSION', 'KEY', 'SIGNATURE', 'HASH_MISMATCH', 'PROTOCOL', 'HANDSHAKE', 'DECRYPT']);

/** Whether an error says the peer sent something wrong, as opposed to a fault of ours or of the network. */
export function blamesPeer(error: unknown): boolean {
  return error instanceof SpareCyclesError && PEER_FAULTS.has(error.code);
}
