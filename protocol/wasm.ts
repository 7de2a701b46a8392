// Just enough of the WebAssembly 1.0 binary format to check the unit ABI
// (docs/unit-abi.md) before a module is compiled or instantiated. The bytes
// come from a stranger, so every length is checked against what is left,
// every count is capped, and anything malformed is a UnitAbiError: the runner
// can then refuse the task without an engine error of unknown shape.
// No Node imports: the extension runs this too.

import { fromUtf8 } from './bytes.ts';
import { SchemaError, UnitAbiError } from './errors.ts';

export type ExternKind = 'function' | 'table' | 'memory' | 'global';

export interface MemoryType {
  min: number;
  max: number | undefined;
  shared: boolean;
  memory64: boolean;
}

export interface ModuleImport {
  module: string;
  name: string;
  kind: ExternKind;
  /** Present only when `kind` is 'memory'. */
  memory?: MemoryType;
}

export interface ModuleExport {
  name: string;
  kind: ExternKind;
}

export interface ModuleInfo {
  imports: ModuleImport[];
  exports: ModuleExport[];
  definesMemory: boolean;
  hasStart: boolean;
}

export const REQUIRED_EXPORTS = ['sc_abi_version', 'sc_input', 'sc_run', 'sc_output'] as const;

/** A unit needs a handful of entries; the cap bounds the work a hostile count can ask for. */
const MAX_COUNT = 10_000;
/** A 32-bit memory cannot exceed 4 GiB. */
const MAX_PAGES_32 = 65_536;
/** Ids after 11 come from proposals clang now emits by default (12 = data count) or engines accept (13 = tag). */
const MAX_SECTION_ID = 13;
const KINDS: readonly ExternKind[] = ['function', 'table', 'memory', 'global'];
const MAGIC = [0x00, 0x61, 0x73, 0x6d];

const Section = { Custom: 0, Import: 2, Memory: 5, Export: 7, Start: 8 } as const;

/** Reads forward through `bytes[pos, end)`; never past `end`, whatever the bytes claim. */
class Reader {
  pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
    private readonly scope: string,
  ) {
    this.pos = start;
  }

  byte(what: string): number {
    if (this.pos >= this.end) {
      throw new UnitAbiError(`expected ${what} at offset ${this.pos}, got the end of ${this.scope}`);
    }
    return this.bytes[this.pos++]!;
  }

  /**
   * Unsigned LEB128 below 2^bits, in at most ceil(bits / 7) bytes. Arithmetic,
   * not bit operators: those are signed 32-bit. The range check looks at the
   * last byte's unused bits, as the spec does, because a u64 sum may round.
   */
  private leb(what: string, bits: number): number {
    const maxBytes = Math.ceil(bits / 7);
    let value = 0;
    for (let i = 0; i < maxBytes; i++) {
      const b = this.byte(what);
      value += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) {
        if (i === maxBytes - 1 && b >= 2 ** (bits - 7 * i)) {
          throw new UnitAbiError(`expected ${what} below 2^${bits}, got a LEB128 ending in 0x${b.toString(16)}`);
        }
        return value;
      }
    }
    throw new UnitAbiError(`expected ${what} as a LEB128 of at most ${maxBytes} bytes, got more`);
  }

  u32(what: string): number {
    return this.leb(what, 32);
  }

  /** memory64 limits. Values past 2^53 come back rounded; such a module is refused anyway. */
  u64(what: string): number {
    return this.leb(what, 64);
  }

  count(what: string): number {
    const n = this.u32(`the number of ${what}`);
    if (n > MAX_COUNT) throw new UnitAbiError(`expected at most ${MAX_COUNT} ${what}, got ${n}`);
    return n;
  }

  name(what: string): string {
    const length = this.u32(`the length of ${what}`);
    if (length > this.end - this.pos) {
      throw new UnitAbiError(
        `expected ${what} of ${length} bytes at offset ${this.pos}, got ${this.end - this.pos} bytes left in ${this.scope}`,
      );
    }
    const raw = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    try {
      return fromUtf8(raw);
    } catch (cause) {
      throw new UnitAbiError(`expected ${what} in UTF-8, got malformed bytes`, { cause });
    }
  }
}

/** Parses the parts of a module the ABI check needs. Throws UnitAbiError on anything malformed. */
export function inspectModule(bytes: Uint8Array): ModuleInfo {
  if (!(bytes instanceof Uint8Array)) {
    throw new UnitAbiError(`expected the module as a Uint8Array, got ${typeof bytes}`);
  }
  if (bytes.length < 8) throw new UnitAbiError(`expected an 8-byte module header, got ${bytes.length} bytes`);
  if (!MAGIC.every((b, i) => bytes[i] === b)) {
    throw new UnitAbiError(`expected the magic bytes 00 61 73 6d, got ${hex(bytes.subarray(0, 4))}`);
  }
  // The version is a fixed 4-byte little-endian word, not a LEB128. The
  // component model reuses the magic with other versions, so name what we got.
  const version = bytes[4]! + bytes[5]! * 0x100 + bytes[6]! * 0x1_0000 + bytes[7]! * 0x100_0000;
  if (version !== 1) throw new UnitAbiError(`expected WebAssembly version 1, got ${version}`);

  const info: ModuleInfo = { imports: [], exports: [], definesMemory: false, hasStart: false };
  const top = new Reader(bytes, 8, bytes.length, 'the module');
  // A second import or export section would let a module show us one list
  // and the engine another, so each non-custom section may appear once.
  const seen = new Set<number>();
  while (top.pos < top.end) {
    const at = top.pos;
    const id = top.byte('a section id');
    if (id > MAX_SECTION_ID) throw new UnitAbiError(`expected a section id 0..${MAX_SECTION_ID} at offset ${at}, got ${id}`);
    if (id !== Section.Custom) {
      if (seen.has(id)) throw new UnitAbiError(`expected at most one section ${id}, got another at offset ${at}`);
      seen.add(id);
    }
    const size = top.u32(`the size of section ${id}`);
    if (size > top.end - top.pos) {
      throw new UnitAbiError(`expected section ${id} of ${size} bytes at offset ${at}, got ${top.end - top.pos} bytes left`);
    }
    const r = new Reader(bytes, top.pos, top.pos + size, `section ${id}`);
    top.pos += size;
    switch (id) {
      case Section.Import:
        readImports(r, info.imports);
        break;
      case Section.Memory:
        info.definesMemory = readMemories(r) > 0;
        break;
      case Section.Export:
        readExports(r, info.exports);
        break;
      case Section.Start:
        r.u32('the start function index');
        info.hasStart = true;
        break;
      default:
        continue; // skipped by size: nothing the ABI check needs
    }
    if (r.pos !== r.end) {
      throw new UnitAbiError(`expected section ${id} to end at offset ${r.pos}, got ${r.end - r.pos} more bytes`);
    }
  }
  return info;
}

function readImports(r: Reader, out: ModuleImport[]): void {
  const n = r.count('imports');
  for (let i = 0; i < n; i++) {
    const module = r.name(`the module name of import ${i}`);
    const name = r.name(`the name of import ${i}`);
    const kind = readKind(r, `import ${i}`);
    switch (kind) {
      case 'function':
        r.u32(`the type index of import ${i}`);
        out.push({ module, name, kind });
        break;
      case 'table':
        readRefType(r, `import ${i}`);
        readLimits(r, `table import ${i}`);
        out.push({ module, name, kind });
        break;
      case 'memory':
        out.push({ module, name, kind, memory: readLimits(r, `memory import ${i}`) });
        break;
      case 'global':
        readValType(r, `import ${i}`);
        readMutability(r, `import ${i}`);
        out.push({ module, name, kind });
        break;
    }
  }
}

function readMemories(r: Reader): number {
  const n = r.count('memories');
  for (let i = 0; i < n; i++) readLimits(r, `memory ${i}`);
  return n;
}

function readExports(r: Reader, out: ModuleExport[]): void {
  const n = r.count('exports');
  for (let i = 0; i < n; i++) {
    const name = r.name(`the name of export ${i}`);
    const kind = readKind(r, `export ${i}`);
    r.u32(`the index of export ${i}`);
    out.push({ name, kind });
  }
}

function readKind(r: Reader, what: string): ExternKind {
  const k = r.byte(`the kind of ${what}`);
  const kind = KINDS[k];
  // 4 is an exception tag: legal in newer engines, never in a unit.
  if (kind === undefined) throw new UnitAbiError(`expected the kind of ${what} to be 0..3, got ${k}`);
  return kind;
}

/** Limits flags: bit 0 = has maximum, bit 1 = shared (threads), bit 2 = 64-bit (memory64). */
function readLimits(r: Reader, what: string): MemoryType {
  const flags = r.byte(`the limits of ${what}`);
  if (flags > 0x07) throw new UnitAbiError(`expected the limits flags of ${what} to be 0..7, got ${flags}`);
  const memory64 = (flags & 0x04) !== 0;
  const read = (label: string): number => (memory64 ? r.u64(label) : r.u32(label));
  const min = read(`the minimum of ${what}`);
  const max = (flags & 0x01) !== 0 ? read(`the maximum of ${what}`) : undefined;
  return { min, max, shared: (flags & 0x02) !== 0, memory64 };
}

function readRefType(r: Reader, what: string): void {
  const t = r.byte(`the element type of ${what}`);
  // funcref, externref. Typed references (GC) are longer encodings we do not need.
  if (t !== 0x70 && t !== 0x6f) throw new UnitAbiError(`expected the element type of ${what} to be 0x70 or 0x6f, got 0x${t.toString(16)}`);
}

function readValType(r: Reader, what: string): void {
  const t = r.byte(`the value type of ${what}`);
  // i32, i64, f32, f64, v128, funcref, externref
  if (t < 0x6f || t > 0x7f || (t > 0x70 && t < 0x7b)) {
    throw new UnitAbiError(`expected a value type for ${what}, got 0x${t.toString(16)}`);
  }
}

function readMutability(r: Reader, what: string): void {
  const m = r.byte(`the mutability of ${what}`);
  if (m > 1) throw new UnitAbiError(`expected the mutability of ${what} to be 0 or 1, got ${m}`);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Hostile names can be long; errors and fields carry a bounded version. */
function shorten(text: string): string {
  return text.length <= 64 ? text : `${text.slice(0, 64)}…`;
}

/**
 * Enforces the unit ABI on a parsed module and returns the memory the host
 * should create for it. `memoryLimitPages` is the manifest's
 * `limits.memoryPages`. Every refusal is a UnitAbiError naming the import or
 * export concerned in `field`.
 */
export function checkUnitAbi(
  info: ModuleInfo,
  memoryLimitPages: number,
): { memoryMinPages: number; memoryMaxPages: number } {
  if (!Number.isSafeInteger(memoryLimitPages) || memoryLimitPages < 0 || memoryLimitPages > MAX_PAGES_32) {
    throw new SchemaError(`expected memoryLimitPages to be an integer 0..${MAX_PAGES_32}, got ${memoryLimitPages}`, {
      field: 'memoryLimitPages',
    });
  }
  const field = 'env.memory';

  // Foreign imports first: they are the reason the ABI exists (no clock, no I/O).
  for (const imp of info.imports) {
    if (imp.module !== 'env' || imp.name !== 'memory') {
      const what = shorten(`${imp.module}.${imp.name}`);
      throw new UnitAbiError(`expected env.memory as the only import, got the ${imp.kind} import ${what}`, {
        field: what,
      });
    }
  }
  if (info.definesMemory) {
    throw new UnitAbiError('expected the memory to be imported as env.memory, got a memory defined by the module', {
      field,
    });
  }
  if (info.imports.length !== 1) {
    throw new UnitAbiError(`expected exactly one import env.memory, got ${info.imports.length}`, { field });
  }
  const imp = info.imports[0]!;
  if (imp.kind !== 'memory' || imp.memory === undefined) {
    throw new UnitAbiError(`expected env.memory to be a memory, got a ${imp.kind}`, { field });
  }
  const { min, max, shared, memory64 } = imp.memory;
  if (shared) throw new UnitAbiError('expected env.memory to be unshared, got a shared memory', { field });
  if (memory64) throw new UnitAbiError('expected env.memory to be a 32-bit memory, got memory64', { field });
  if (!Number.isSafeInteger(min) || min < 0 || min > MAX_PAGES_32) {
    throw new UnitAbiError(`expected env.memory's minimum to be 0..${MAX_PAGES_32} pages, got ${min}`, { field });
  }
  if (max !== undefined && (!Number.isSafeInteger(max) || max < min || max > MAX_PAGES_32)) {
    throw new UnitAbiError(`expected env.memory's maximum to be ${min}..${MAX_PAGES_32} pages, got ${max}`, { field });
  }
  if (min > memoryLimitPages) {
    throw new UnitAbiError(
      `expected env.memory's minimum within the limit of ${memoryLimitPages} pages, got ${min}: the module asks for more memory than the limit`,
      { field },
    );
  }

  for (const required of REQUIRED_EXPORTS) {
    const exp = info.exports.find((e) => e.name === required);
    if (exp === undefined) throw new UnitAbiError(`expected an export ${required}, got none`, { field: required });
    if (exp.kind !== 'function') {
      throw new UnitAbiError(`expected ${required} to be a function, got a ${exp.kind}`, { field: required });
    }
  }

  // The host's memory must satisfy the import: initial >= declared min, and
  // maximum <= declared max when there is one. The limit caps both.
  return { memoryMinPages: min, memoryMaxPages: Math.min(max ?? memoryLimitPages, memoryLimitPages) };
}
