// Canonical bencode (BEP 3), the one encoding of everything SpareCycles signs.
// We chose bencode because the rest of the system already speaks BitTorrent
// (BEP 44 items and BEP 10 extension messages are bencoded), and because
// bencode has exactly one encoding per value once dictionary keys are sorted
// and integers carry no leading zeros. The decoder is strict: it accepts only
// that one encoding, so `encode(decode(b))` equals `b` for every accepted `b`,
// and a signature over canonical bytes can be checked by re-encoding.

import { compareBytes, fromUtf8, utf8 } from './bytes.ts';
import { LIMITS } from './constants.ts';
import { DecodeError } from './errors.ts';

/** A decoded value: byte strings stay bytes; the schema layer decides what is text. */
export type BValue = number | Uint8Array | BValue[] | BDict;
export interface BDict {
  [key: string]: BValue;
}

/** What `encode` accepts: decoded values, plus strings (UTF-8) and absent optional fields. */
export type BInput = number | string | Uint8Array | readonly BInput[] | { readonly [key: string]: BInput | undefined };

const I = 0x69; // 'i'
const L = 0x6c; // 'l'
const D = 0x64; // 'd'
const E = 0x65; // 'e'
const COLON = 0x3a;
const MINUS = 0x2d;
const ZERO = 0x30;

export function encode(value: BInput): Uint8Array {
  const out = new Writer();
  write(out, value, 0);
  return out.bytes();
}

function write(out: Writer, v: BInput, depth: number): void {
  if (depth > LIMITS.depth) throw new DecodeError(`nesting deeper than ${LIMITS.depth}`);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new DecodeError(`expected a safe integer, got ${v}`);
    out.byte(I);
    out.ascii(String(v));
    out.byte(E);
  } else if (typeof v === 'string') {
    if (isAscii(v)) {
      out.length(v.length);
      out.ascii(v);
    } else {
      const bytes = utf8(v);
      out.length(bytes.length);
      out.raw(bytes);
    }
  } else if (v instanceof Uint8Array) {
    out.length(v.length);
    out.raw(v);
  } else if (Array.isArray(v)) {
    out.byte(L);
    for (const item of v as readonly BInput[]) write(out, item, depth + 1);
    out.byte(E);
  } else if (typeof v === 'object' && v !== null) {
    const dict = v as { readonly [key: string]: BInput | undefined };
    const keys = Object.keys(dict).filter((k) => dict[k] !== undefined);
    out.byte(D);
    if (keys.every(isAscii)) {
      // For ASCII, UTF-16 order is byte order, and each key is its own bytes.
      keys.sort();
      for (const key of keys) {
        out.length(key.length);
        out.ascii(key);
        write(out, dict[key]!, depth + 1);
      }
    } else {
      const entries = keys.map((k) => [utf8(k), dict[k]!] as const).sort((a, b) => compareBytes(a[0], b[0]));
      for (const [key, item] of entries) {
        out.length(key.length);
        out.raw(key);
        write(out, item, depth + 1);
      }
    }
    out.byte(E);
  } else {
    throw new DecodeError(`cannot encode a value of type ${v === null ? 'null' : typeof v}`);
  }
}

/** Field names and most strings are ASCII: their UTF-16 code units are their bytes. */
function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * A growing byte buffer. Messages are encoded several times each (to sign, to
 * check, to send), so encoding writes in place instead of gathering small
 * arrays from TextEncoder and joining them.
 */
class Writer {
  private buffer = new Uint8Array(256);
  private size = 0;

  private room(more: number): void {
    if (this.size + more <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.size + more));
    grown.set(this.buffer.subarray(0, this.size));
    this.buffer = grown;
  }

  byte(b: number): void {
    this.room(1);
    this.buffer[this.size++] = b;
  }

  /** Characters known to be ASCII, one byte each. */
  ascii(text: string): void {
    this.room(text.length);
    for (let i = 0; i < text.length; i++) this.buffer[this.size++] = text.charCodeAt(i);
  }

  /** A string's length prefix: `<decimal length>:`. */
  length(n: number): void {
    this.ascii(String(n));
    this.byte(COLON);
  }

  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buffer.set(bytes, this.size);
    this.size += bytes.length;
  }

  bytes(): Uint8Array {
    return this.buffer.slice(0, this.size);
  }
}

export interface DecodeOptions {
  /** Refuse input longer than this before looking at it. */
  maxBytes?: number;
  /**
   * Byte strings as views into the input instead of copies. For a caller that
   * copies what it keeps (the message schemas do), so a large output is
   * copied once on its way in, not twice.
   */
  views?: boolean;
}

export function decode(bytes: Uint8Array, options: DecodeOptions = {}): BValue {
  const maxBytes = options.maxBytes ?? LIMITS.messageBytes;
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('expected bytes');
  if (bytes.length > maxBytes) throw new DecodeError(`expected at most ${maxBytes} bytes, got ${bytes.length}`);
  if (bytes.length === 0) throw new DecodeError('expected a value, got no bytes');
  const reader = new Reader(bytes, options.views ?? false);
  const value = reader.value(0);
  if (reader.pos !== bytes.length) {
    throw new DecodeError(`expected end of input at byte ${reader.pos}, got ${bytes.length - reader.pos} more bytes`);
  }
  return value;
}

class Reader {
  pos = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly views: boolean,
  ) {}

  value(depth: number): BValue {
    if (depth > LIMITS.depth) throw new DecodeError(`nesting deeper than ${LIMITS.depth}`);
    const tag = this.peek();
    if (tag === I) return this.integer();
    if (tag === L) return this.list(depth);
    if (tag === D) return this.dict(depth);
    if (tag >= ZERO && tag <= ZERO + 9) return this.string();
    throw new DecodeError(`unexpected byte 0x${tag.toString(16)} at ${this.pos}`);
  }

  private peek(): number {
    if (this.pos >= this.bytes.length) throw new DecodeError(`unexpected end of input at ${this.pos}`);
    return this.bytes[this.pos]!;
  }

  /** Reads decimal digits up to `end`; canonical means no leading zero unless the number is 0. */
  private digits(end: number, what: string): number {
    const start = this.pos;
    let n = 0;
    while (this.peek() !== end) {
      const c = this.bytes[this.pos]!;
      if (c < ZERO || c > ZERO + 9) throw new DecodeError(`expected a digit in ${what} at ${this.pos}`);
      n = n * 10 + (c - ZERO);
      this.pos++;
      if (this.pos - start > 16) throw new DecodeError(`${what} has too many digits at ${start}`);
    }
    const count = this.pos - start;
    if (count === 0) throw new DecodeError(`expected digits in ${what} at ${start}`);
    if (count > 1 && this.bytes[start] === ZERO) throw new DecodeError(`${what} has a leading zero at ${start}`);
    if (!Number.isSafeInteger(n)) throw new DecodeError(`${what} at ${start} is not a safe integer`);
    this.pos++; // the terminator
    return n;
  }

  private integer(): number {
    const start = this.pos;
    this.pos++; // 'i'
    const negative = this.peek() === MINUS;
    if (negative) this.pos++;
    const n = this.digits(E, 'integer');
    if (negative && n === 0) throw new DecodeError(`negative zero at ${start}`);
    return negative ? -n : n;
  }

  private string(): Uint8Array {
    const end = this.stringEnd();
    const out = this.views ? this.bytes.subarray(this.pos, end) : this.bytes.slice(this.pos, end);
    this.pos = end;
    return out;
  }

  private list(depth: number): BValue[] {
    this.pos++; // 'l'
    const out: BValue[] = [];
    while (this.peek() !== E) out.push(this.value(depth + 1));
    this.pos++;
    return out;
  }

  private dict(depth: number): BDict {
    const start = this.pos;
    this.pos++; // 'd'
    // No prototype, so a key named "__proto__" is just a key.
    const out = Object.create(null) as BDict;
    // Keys are compared and read where they lie: no copy per key.
    let previousStart = -1;
    let previousEnd = -1;
    while (this.peek() !== E) {
      if (this.peek() < ZERO || this.peek() > ZERO + 9) throw new DecodeError(`expected a string key at ${this.pos}`);
      const keyEnd = this.stringEnd();
      const keyStart = this.pos;
      this.pos = keyEnd;
      if (previousStart >= 0 && this.compare(previousStart, previousEnd, keyStart, keyEnd) >= 0) {
        throw new DecodeError(`dictionary at ${start} has keys out of order or repeated`);
      }
      previousStart = keyStart;
      previousEnd = keyEnd;
      out[this.key(keyStart, keyEnd)] = this.value(depth + 1);
    }
    this.pos++;
    return out;
  }

  /** Reads a string's length prefix; leaves pos at its first byte and returns the offset just past it. */
  private stringEnd(): number {
    const start = this.pos;
    const length = this.digits(COLON, 'string length');
    if (length > this.bytes.length - this.pos) {
      throw new DecodeError(`string at ${start} claims ${length} bytes, only ${this.bytes.length - this.pos} remain`);
    }
    return this.pos + length;
  }

  /** compareBytes over two ranges of the input. */
  private compare(aStart: number, aEnd: number, bStart: number, bEnd: number): number {
    const b = this.bytes;
    const n = Math.min(aEnd - aStart, bEnd - bStart);
    for (let i = 0; i < n; i++) {
      if (b[aStart + i] !== b[bStart + i]) return b[aStart + i]! - b[bStart + i]!;
    }
    return aEnd - aStart - (bEnd - bStart);
  }

  private key(start: number, end: number): string {
    // Protocol keys are short ASCII: built a character at a time, without TextDecoder.
    if (end - start <= 64) {
      let key = '';
      for (let i = start; i < end; i++) {
        const c = this.bytes[i]!;
        if (c >= 0x80) return this.utf8Key(start, end);
        key += String.fromCharCode(c);
      }
      return key;
    }
    return this.utf8Key(start, end);
  }

  private utf8Key(start: number, end: number): string {
    try {
      return fromUtf8(this.bytes.subarray(start, end));
    } catch (cause) {
      throw new DecodeError(`dictionary key at ${start} is not UTF-8`, { cause });
    }
  }
}

export function isDict(value: BValue): value is BDict {
  return typeof value === 'object' && !(value instanceof Uint8Array) && !Array.isArray(value);
}

/** One entry of a dictionary as it lies in the bytes: its key (a view), from its key's length prefix to the end of its value. */
export interface EntrySpan {
  key: Uint8Array;
  start: number;
  end: number;
}

/**
 * The entries of the top-level dictionary of canonical bencode `bytes`, in
 * order. Walks the top level only, so a key's text inside a value is never
 * taken for the key. For bytes that `decode` accepted or `encode` made;
 * anything else is a DecodeError.
 */
export function dictEntries(bytes: Uint8Array): EntrySpan[] {
  if (bytes[0] !== D) throw new DecodeError('expected a dictionary');
  const out: EntrySpan[] = [];
  let pos = 1;
  while (pos < bytes.length && bytes[pos] !== E) {
    const start = pos;
    const keyEnd = skipValue(bytes, pos);
    const key = bytes.subarray(bytes.indexOf(COLON, pos) + 1, keyEnd);
    pos = skipValue(bytes, keyEnd);
    out.push({ key, start, end: pos });
  }
  if (pos >= bytes.length) throw new DecodeError('unexpected end of input');
  return out;
}

/** The offset just past the value that starts at `pos`. */
function skipValue(bytes: Uint8Array, pos: number): number {
  const tag = bytes[pos];
  if (tag === I) {
    const end = bytes.indexOf(E, pos);
    if (end < 0) throw new DecodeError(`unexpected end of input at ${pos}`);
    return end + 1;
  }
  if (tag === L || tag === D) {
    pos++;
    while (pos < bytes.length && bytes[pos] !== E) pos = skipValue(bytes, pos);
    if (pos >= bytes.length) throw new DecodeError(`unexpected end of input at ${pos}`);
    return pos + 1;
  }
  if (tag !== undefined && tag >= ZERO && tag <= ZERO + 9) {
    let length = 0;
    while (bytes[pos] !== COLON) {
      const c = bytes[pos];
      if (c === undefined || c < ZERO || c > ZERO + 9) throw new DecodeError(`expected a string length at ${pos}`);
      length = length * 10 + (c - ZERO);
      pos++;
    }
    const end = pos + 1 + length;
    if (end > bytes.length) throw new DecodeError(`string at ${pos} runs past the end`);
    return end;
  }
  throw new DecodeError(`unexpected byte at ${pos}`);
}
