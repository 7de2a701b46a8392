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
    }
  },
  KEY: KeyError,
  SIGNATURE: SignatureError,
  HASH_MISMATCH: HashMismatchError,
  UNIT_TIMEOUT: UnitTimeoutError,
  UNIT_MEMORY: UnitMemoryError,
  UNIT_TRAP: UnitTrapError,
  UNIT_ABI: UnitAbiError,
  UNIT_CRASH: UnitCrashError,
};

/** Rebuilds the typed error a record names; an unknown code becomes a crash, never a silent success. */
export function fromErrorRecord(record: ErrorRecord): SpareCyclesError {
  const make = Object.hasOwn(BY_CODE, record.code) ? BY_CODE[record.code] : UnitCrashError;
  return new make(String(record.message), record.field === undefined ? {} : { field: record.field });
}
