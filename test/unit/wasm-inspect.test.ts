// inspectModule must read any bytes a stranger sends without throwing anything
// but UnitAbiError, and checkUnitAbi must refuse exactly the modules the ABI
// (docs/unit-abi.md) forbids, naming the import or export concerned.

import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../protocol/bytes.ts';
import { SchemaError, UnitAbiError } from '../../protocol/errors.ts';
import { checkUnitAbi, inspectModule, type ModuleInfo } from '../../protocol/wasm.ts';
import { compileFixture, compileWat } from '../../testnet/wasm-fixtures.ts';

const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 10000);
const LIMIT = 16384; // LIMITS.memoryPages

/** Fixtures the static check accepts, with the memory it asks the host to create. */
const ACCEPTED: Record<string, { memoryMinPages: number; memoryMaxPages: number }> = {
  echo: { memoryMinPages: 1, memoryMaxPages: 1024 },
  slow: { memoryMinPages: 1, memoryMaxPages: 1024 },
  'loop-on-flag': { memoryMinPages: 1, memoryMaxPages: 1024 },
  'loop-forever': { memoryMinPages: 1, memoryMaxPages: 1 },
  'grow-memory': { memoryMinPages: 1, memoryMaxPages: LIMIT },
  trap: { memoryMinPages: 1, memoryMaxPages: 1 },
  'bad-version': { memoryMinPages: 1, memoryMaxPages: 1 },
  'out-of-bounds-output': { memoryMinPages: 1, memoryMaxPages: 1 },
  'negative-result': { memoryMinPages: 1, memoryMaxPages: 1 },
};
/** Fixtures it refuses, with the `field` of the refusal. */
const REFUSED: Record<string, string> = {
  'bad-import': 'env.now',
  'own-memory': 'env.memory',
  'missing-export': 'sc_output',
  'big-min-memory': 'env.memory',
};

const fixtures = new Map<string, Uint8Array>();
beforeAll(async () => {
  for (const name of [...Object.keys(ACCEPTED), ...Object.keys(REFUSED)]) fixtures.set(name, await compileFixture(name));
});
const fixture = (name: string): Uint8Array => fixtures.get(name)!;

/** Runs `fn`, which must throw a UnitAbiError in the house style; returns it. */
function abiError(fn: () => unknown): UnitAbiError {
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    if (!(err instanceof UnitAbiError)) throw err;
    expect(err.code).toBe('UNIT_ABI');
    expect(err.message).toMatch(/^expected .*got/);
    return err;
  }
  throw new Error(`expected a UnitAbiError, got ${JSON.stringify(result)}`);
}

/** The property every input must satisfy: a ModuleInfo, or a UnitAbiError, and nothing else. */
function parsesOrRefuses(bytes: Uint8Array): ModuleInfo | undefined {
  try {
    const info = inspectModule(bytes);
    try {
      checkUnitAbi(info, LIMIT);
    } catch (err) {
      if (!(err instanceof UnitAbiError)) throw err;
    }
    return info;
  } catch (err) {
    if (err instanceof UnitAbiError) return undefined;
    throw err;
  }
}

/** What the engine itself says a module imports and exports, to check our parser against. */
function engineView(bytes: Uint8Array) {
  const m = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  return {
    imports: WebAssembly.Module.imports(m).map(({ module, name, kind }) => ({ module, name, kind })),
    exports: WebAssembly.Module.exports(m).map(({ name, kind }) => ({ name, kind })),
  };
}
function ourView(info: ModuleInfo) {
  return {
    imports: info.imports.map(({ module, name, kind }) => ({ module, name, kind })),
    exports: info.exports.map(({ name, kind }) => ({ name, kind })),
  };
}

// Hand-built binaries for the malformed cases wabt would never emit.
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    const low = n % 128;
    n = Math.floor(n / 128);
    out.push(n > 0 ? low | 0x80 : low);
  } while (n > 0);
  return out;
}
const name = (s: string): number[] => [...leb(utf8(s).length), ...utf8(s)];
const section = (id: number, content: number[]): number[] => [id, ...leb(content.length), ...content];
const wasm = (...parts: number[][]): Uint8Array => Uint8Array.from([...HEADER, ...parts.flat()]);
const memoryImport = (limits: number[]): number[] => [...name('env'), ...name('memory'), 0x02, ...limits];

describe('fixtures', () => {
  it('classifies every .wat in test/fixtures/wasm', () => {
    const onDisk = readdirSync(new URL('../fixtures/wasm/', import.meta.url))
      .filter((f) => f.endsWith('.wat'))
      .map((f) => f.slice(0, -4))
      .sort();
    expect(onDisk).toEqual([...Object.keys(ACCEPTED), ...Object.keys(REFUSED)].sort());
  });

  it('parses each fixture as the engine does', () => {
    for (const [fixtureName, bytes] of fixtures) {
      expect(ourView(inspectModule(bytes)), fixtureName).toEqual(engineView(bytes));
    }
  });

  it.each(Object.entries(ACCEPTED))('accepts %s', (fixtureName, memory) => {
    const info = inspectModule(fixture(fixtureName));
    expect(info.definesMemory).toBe(false);
    expect(info.hasStart).toBe(false);
    expect(checkUnitAbi(info, LIMIT)).toEqual(memory);
  });

  it.each(Object.entries(REFUSED))('refuses %s on field %s', (fixtureName, field) => {
    const info = inspectModule(fixture(fixtureName));
    expect(abiError(() => checkUnitAbi(info, LIMIT)).field).toBe(field);
  });

  it('reads what each refused fixture did wrong', () => {
    expect(inspectModule(fixture('bad-import')).imports.map((i) => `${i.module}.${i.name}:${i.kind}`)).toEqual([
      'env.memory:memory',
      'env.now:function',
    ]);
    expect(inspectModule(fixture('own-memory'))).toMatchObject({ imports: [], definesMemory: true });
    expect(inspectModule(fixture('missing-export')).exports.map((e) => e.name)).not.toContain('sc_output');
    expect(inspectModule(fixture('big-min-memory')).imports[0]!.memory).toEqual({
      min: 20000,
      max: 65536,
      shared: false,
      memory64: false,
    });
  });

  it('caps memory at the limit and refuses a minimum above it', () => {
    const big = inspectModule(fixture('big-min-memory'));
    expect(abiError(() => checkUnitAbi(big, LIMIT)).message).toMatch(/more memory than the limit/);
    expect(checkUnitAbi(big, 20000)).toEqual({ memoryMinPages: 20000, memoryMaxPages: 20000 });
    expect(checkUnitAbi(big, 65536)).toEqual({ memoryMinPages: 20000, memoryMaxPages: 65536 });
    expect(checkUnitAbi(inspectModule(fixture('echo')), 10)).toEqual({ memoryMinPages: 1, memoryMaxPages: 10 });
    expect(abiError(() => checkUnitAbi(inspectModule(fixture('echo')), 0)).field).toBe('env.memory');
  });
});

describe('checkUnitAbi', () => {
  const good = (): ModuleInfo => ({
    imports: [{ module: 'env', name: 'memory', kind: 'memory', memory: { min: 1, max: 4, shared: false, memory64: false } }],
    exports: ['sc_abi_version', 'sc_input', 'sc_run', 'sc_output'].map((n) => ({ name: n, kind: 'function' as const })),
    definesMemory: false,
    hasStart: false,
  });
  const mem = (patch: object): ModuleInfo => {
    const info = good();
    Object.assign(info.imports[0]!.memory!, patch);
    return info;
  };

  it('accepts a minimal conforming module, with or without a declared maximum', () => {
    expect(checkUnitAbi(good(), LIMIT)).toEqual({ memoryMinPages: 1, memoryMaxPages: 4 });
    expect(checkUnitAbi(mem({ max: undefined }), LIMIT)).toEqual({ memoryMinPages: 1, memoryMaxPages: LIMIT });
    expect(checkUnitAbi({ ...good(), hasStart: true }, LIMIT)).toEqual({ memoryMinPages: 1, memoryMaxPages: 4 });
  });

  it.each([
    ['a shared memory', mem({ shared: true }), 'env.memory', /shared/],
    ['memory64', mem({ memory64: true }), 'env.memory', /memory64/],
    ['a maximum below the minimum', mem({ min: 5, max: 4 }), 'env.memory', /maximum/],
    ['a minimum past 4 GiB', mem({ min: 65537, max: undefined }), 'env.memory', /minimum/],
    ['no imports', { ...good(), imports: [] }, 'env.memory', /one import/],
    ['env.memory twice', { ...good(), imports: [...good().imports, ...good().imports] }, 'env.memory', /got 2/],
    ['env.memory as a function', { ...good(), imports: [{ module: 'env', name: 'memory', kind: 'function' }] }, 'env.memory', /a function/],
    ['a global import', { ...good(), imports: [...good().imports, { module: 'm', name: 'g', kind: 'global' }] }, 'm.g', /global/],
    ['a table import', { ...good(), imports: [{ module: 'env', name: 'table', kind: 'table' }, ...good().imports] }, 'env.table', /table/],
    ['memory from another module', { ...good(), imports: [{ ...good().imports[0]!, module: 'wasi' }] }, 'wasi.memory', /wasi/],
    ['its own memory too', { ...good(), definesMemory: true }, 'env.memory', /defined by the module/],
    ['sc_run missing', { ...good(), exports: good().exports.filter((e) => e.name !== 'sc_run') }, 'sc_run', /sc_run/],
    ['sc_input as a global', { ...good(), exports: good().exports.map((e) => (e.name === 'sc_input' ? { ...e, kind: 'global' as const } : e)) }, 'sc_input', /a global/],
  ] as const)('refuses %s', (_what, info, field, message) => {
    const err = abiError(() => checkUnitAbi(info as ModuleInfo, LIMIT));
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
  });

  it('keeps a hostile import name out of the error at full length', () => {
    const info = good();
    info.imports.push({ module: 'env', name: 'x'.repeat(100_000), kind: 'function' });
    const err = abiError(() => checkUnitAbi(info, LIMIT));
    expect(err.field!.length).toBeLessThan(80);
    expect(err.message.length).toBeLessThan(200);
  });

  it('refuses a memory limit that is not a page count', () => {
    for (const limit of [-1, 1.5, 65537, Number.NaN, Infinity]) {
      expect(() => checkUnitAbi(good(), limit)).toThrow(SchemaError);
    }
  });
});

describe('inspectModule on WAT beyond the fixtures', () => {
  it('reads a shared memory import and a start function', async () => {
    const bytes = await compileWat(
      `(module (import "env" "memory" (memory 1 2 shared)) (func $init) (start $init))`,
      { threads: true },
    );
    const info = inspectModule(bytes);
    expect(info.imports[0]!.memory).toEqual({ min: 1, max: 2, shared: true, memory64: false });
    expect(info.hasStart).toBe(true);
    expect(abiError(() => checkUnitAbi(info, LIMIT)).message).toMatch(/shared/);
  });

  it('reads table and global imports and every export kind', async () => {
    const bytes = await compileWat(`(module
      (import "t" "tab" (table 1 funcref)) (import "g" "glob" (global (mut i32)))
      (import "env" "memory" (memory 0))
      (func (export "f")) (global (export "gg") i32 (i32.const 0))
      (export "tt" (table 0)) (export "mm" (memory 0)))`);
    const info = inspectModule(bytes);
    expect(ourView(info)).toEqual(engineView(bytes));
    expect(info.imports[2]!.memory).toEqual({ min: 0, max: undefined, shared: false, memory64: false });
    expect(abiError(() => checkUnitAbi(info, LIMIT)).field).toBe('t.tab');
  });
});

describe('inspectModule on malformed bytes', () => {
  it('reads a bare header as an empty module', () => {
    expect(inspectModule(wasm())).toEqual({ imports: [], exports: [], definesMemory: false, hasStart: false });
  });

  it('refuses a short header, bad magic and other versions', () => {
    for (let n = 0; n < 8; n++) expect(abiError(() => inspectModule(wasm().subarray(0, n))).message).toMatch(/8-byte/);
    expect(abiError(() => inspectModule(Uint8Array.from([0x00, 0x61, 0x73, 0x6e, 1, 0, 0, 0]))).message).toMatch(/magic/);
    expect(abiError(() => inspectModule(utf8('(module)\n'))).message).toMatch(/magic/);
    expect(abiError(() => inspectModule(Uint8Array.from([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]))).message).toMatch(/version 1, got 2$/);
    // a component, which shares the magic
    expect(abiError(() => inspectModule(Uint8Array.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]))).message).toMatch(/got 65549/);
  });

  it('refuses something that is not a Uint8Array', () => {
    abiError(() => inspectModule('\0asm' as unknown as Uint8Array));
    abiError(() => inspectModule(new ArrayBuffer(8) as unknown as Uint8Array));
  });

  it.each([
    ['a LEB128 of 6 bytes', [0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], /at most 5 bytes/],
    ['a LEB128 of 2^32', [0x00, 0x80, 0x80, 0x80, 0x80, 0x10], /below 2\^32/],
    ['a LEB128 cut short', [0x00, 0x80], /the size of section 0 at offset 10, got the end of the module/],
    ['a section running past the end', [0x00, 0xff, 0xff, 0xff, 0xff, 0x0f], /of 4294967295 bytes at offset 8, got 0 bytes left/],
    ['a section one byte too long', [...section(0, [...name('x'), 1, 2]).slice(0, -1)], /got 3 bytes left/],
    ['a section id past 13', section(14, []), /section id 0\.\.13 at offset 8, got 14/],
    ['two import sections', [...section(2, [0]), ...section(2, [0])], /at most one section 2/],
    ['two memory sections', [...section(5, [0]), ...section(5, [0])], /at most one section 5/],
    ['an import count over 10,000', section(2, leb(10_001)), /at most 10000 imports, got 10001/],
    ['an export count over 10,000', section(7, leb(2 ** 32 - 1)), /at most 10000 exports/],
    ['a memory count over 10,000', section(5, leb(10_001)), /at most 10000 memories/],
    ['a name past the end of the module', section(7, [1, 5, 0x61]), /name of export 0 of 5 bytes at offset \d+, got 1 bytes left in section 7/],
    // the name's length reaches into the next section, which it must not read
    ['a name past the end of its section', [...section(7, [1, 3]), ...section(0, [...name('abc')])], /got 0 bytes left in section 7/],
    ['an import name in bad UTF-8', section(2, [1, 1, 0xff, ...name('memory'), 0x02, 0x00, 0x01]), /module name of import 0 in UTF-8/],
    ['an export name in bad UTF-8', section(7, [1, 2, 0xc3, 0x28, 0x00, 0x00]), /name of export 0 in UTF-8/],
    ['an import of kind 4', section(2, [1, ...name('env'), ...name('tag'), 0x04, 0x00, 0x00]), /kind of import 0 to be 0\.\.3, got 4/],
    ['an export of kind 9', section(7, [1, ...name('x'), 0x09, 0x00]), /kind of export 0 to be 0\.\.3, got 9/],
    ['limits flags of 8', section(2, [1, ...memoryImport([0x08, 0x01])]), /limits flags of memory import 0 to be 0\.\.7, got 8/],
    ['a memory maximum cut short', section(2, [1, ...memoryImport([0x01, 0x01])]), /maximum of memory import 0 at offset \d+, got the end of section 2/],
    ['a table of an unknown element type', section(2, [1, ...name('t'), ...name('t'), 0x01, 0x40, 0x00, 0x01]), /element type of import 0/],
    ['a global of an unknown value type', section(2, [1, ...name('g'), ...name('g'), 0x03, 0x40, 0x00]), /value type for import 0, got 0x40/],
    ['a global of mutability 2', section(2, [1, ...name('g'), ...name('g'), 0x03, 0x7f, 0x02]), /mutability of import 0 to be 0 or 1, got 2/],
    ['trailing bytes in the start section', section(8, [0x00, 0x00]), /section 8 to end at offset \d+, got 1 more bytes/],
    ['trailing bytes in the memory section', section(5, [1, 0x00, 0x01, 0x00]), /section 5 to end/],
  ] as const)('refuses %s', (_what, body, message) => {
    expect(abiError(() => inspectModule(wasm([...body]))).message).toMatch(message);
  });

  it('keeps the cause of a UTF-8 failure', () => {
    const err = abiError(() => inspectModule(wasm(section(7, [1, 1, 0xff, 0x00, 0x00]))));
    expect(err.cause).toBeInstanceOf(TypeError);
  });

  it('accepts padded LEB128s and the largest u32', () => {
    const info = inspectModule(wasm(section(2, [1, ...memoryImport([0x01, 0x81, 0x80, 0x80, 0x80, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f])])));
    expect(info.imports[0]!.memory).toEqual({ min: 1, max: 2 ** 32 - 1, shared: false, memory64: false });
    expect(abiError(() => checkUnitAbi(info, LIMIT)).message).toMatch(/maximum/);
  });

  it('reads memory64 limits as 64-bit LEB128s, and checkUnitAbi refuses them', () => {
    const info = inspectModule(wasm(section(2, [1, ...memoryImport([0x05, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])])));
    expect(info.imports[0]!.memory).toMatchObject({ min: 1, memory64: true, shared: false });
    expect(abiError(() => checkUnitAbi(info, LIMIT)).message).toMatch(/memory64/);
    const tooLong = [0x04, ...Array<number>(10).fill(0x80), 0x00];
    expect(abiError(() => inspectModule(wasm(section(2, [1, ...memoryImport(tooLong)])))).message).toMatch(/at most 10 bytes/);
  });

  it('accepts exactly 10,000 exports', () => {
    const entries = Array.from({ length: 10_000 }, () => [0x00, 0x00, 0x00]).flat(); // "" function 0
    expect(inspectModule(wasm(section(7, [...leb(10_000), ...entries]))).exports).toHaveLength(10_000);
  });

  it('skips custom sections anywhere, whatever they hold, and unparsed sections by size', () => {
    const junk = section(0, [0xff, 0xff, 0xff, 0x80]);
    const info = inspectModule(
      wasm(
        junk,
        section(1, [0xde, 0xad]), // a type section we do not read
        junk,
        section(2, [1, ...memoryImport([0x00, 0x02])]),
        junk,
        section(7, [1, ...name('sc_run'), 0x00, 0x00]),
        section(8, [0x00]),
        section(12, [0x00]), // data count, which bulk-memory clang emits
        junk,
      ),
    );
    expect(info).toEqual({
      imports: [{ module: 'env', name: 'memory', kind: 'memory', memory: { min: 2, max: undefined, shared: false, memory64: false } }],
      exports: [{ name: 'sc_run', kind: 'function' }],
      definesMemory: false,
      hasStart: true,
    });
  });

  it('says a module with an empty memory section defines no memory', () => {
    expect(inspectModule(wasm(section(5, [0]))).definesMemory).toBe(false);
    expect(inspectModule(wasm(section(5, [1, 0x00, 0x01]))).definesMemory).toBe(true);
  });
});

describe('inspectModule on hostile input', () => {
  it('parses or refuses every prefix of echo.wasm', () => {
    const echo = fixture('echo');
    let parsed = 0;
    for (let n = 0; n <= echo.length; n++) if (parsesOrRefuses(echo.subarray(0, n))) parsed++;
    // prefixes that end on a section boundary parse; most land mid-section and must not
    expect(parsed).toBeGreaterThan(1);
    expect(parsed).toBeLessThan(echo.length / 4);
    expect(parsesOrRefuses(echo)).toBeDefined();
  });

  it('parses or refuses random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        parsesOrRefuses(bytes);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('parses or refuses random bytes after a valid header', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (tail) => {
        parsesOrRefuses(wasm([...tail]));
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('parses or refuses echo.wasm with bytes flipped, and agrees with the engine when it is valid', () => {
    const echo = fixture('echo');
    const flips = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 });
    let valid = 0;
    fc.assert(
      fc.property(flips, (changes) => {
        const bytes = echo.slice();
        for (const [at, mask] of changes) bytes[at % bytes.length]! ^= mask;
        const info = parsesOrRefuses(bytes);
        if (WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) {
          valid++;
          expect(info).toBeDefined();
          expect(ourView(info!)).toEqual(engineView(bytes));
        }
      }),
      { numRuns: FUZZ_RUNS },
    );
    expect(valid).toBeGreaterThan(0); // or the differential half never ran
  });
});

describe('fixtures behave as their comments say', () => {
  /** Just enough of the ABI's run sequence to check the fixtures, not the runner. */
  async function run(fixtureName: string, unit: number, input: number[], limit = LIMIT) {
    const bytes = fixture(fixtureName);
    const { memoryMinPages, memoryMaxPages } = checkUnitAbi(inspectModule(bytes), limit);
    const memory = new WebAssembly.Memory({ initial: memoryMinPages, maximum: memoryMaxPages });
    const { instance } = await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>, { env: { memory } });
    const fn = instance.exports as Record<string, (...args: number[]) => number>;
    const version = fn.sc_abi_version!();
    const at = fn.sc_input!(input.length);
    new Uint8Array(memory.buffer).set(input, at);
    const length = fn.sc_run!(unit, input.length);
    const out = fn.sc_output!();
    const view = new Uint8Array(memory.buffer);
    const output = length >= 0 && out + length <= view.length ? Array.from(view.subarray(out, out + length)) : undefined;
    return { version, at, length, output, pages: memory.buffer.byteLength / 65536 };
  }

  it('echo reverses its input and appends the unit index', async () => {
    expect(await run('echo', 258, [1, 2, 3])).toMatchObject({ version: 1, length: 4, output: [3, 2, 1, 2] });
    expect(await run('echo', 7, [])).toMatchObject({ length: 1, output: [7] });
    const big = Array.from({ length: 100_000 }, (_, i) => i & 255); // needs memory.grow
    expect((await run('echo', 0, big)).output).toEqual([...big].reverse().concat(0));
  });

  it('slow echoes like echo', async () => {
    expect((await run('slow', 5, [2, 9, 8])).output).toEqual((await run('echo', 5, [2, 9, 8])).output);
  });

  it('the run-time hostiles misbehave as promised', async () => {
    expect((await run('bad-version', 0, [1])).version).toBe(2);
    expect((await run('negative-result', 0, [1])).length).toBe(-7);
    expect(await run('out-of-bounds-output', 0, [1])).toMatchObject({ length: 65536, output: undefined });
    await expect(run('trap', 0, [1])).rejects.toThrow(WebAssembly.RuntimeError);
  });

  it('grow-memory traps once memory reaches the host maximum', async () => {
    const bytes = fixture('grow-memory');
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 64 });
    const { instance } = await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>, { env: { memory } });
    const sc_run = instance.exports.sc_run as (unit: number, len: number) => number;
    expect(() => sc_run(0, 0)).toThrow(WebAssembly.RuntimeError);
    expect(memory.buffer.byteLength / 65536).toBe(49); // 1 + 3 × 16; a fourth grow would pass 64
  });
});
