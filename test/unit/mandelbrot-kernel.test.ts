// Runs examples/mandelbrot/unit.wasm through the unit ABI (docs/unit-abi.md)
// and compares every band with the independent TypeScript reference.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeParams } from '../../examples/mandelbrot/make-params.ts';
import {
  mandelbrotUnitCount,
  parseMandelbrotParams,
  renderMandelbrotReference,
  type MandelbrotParams,
} from '../support/mandelbrot-reference.ts';

const dir = new URL('../../examples/mandelbrot/', import.meta.url);
const wasmBytes = new Uint8Array(readFileSync(new URL('unit.wasm', dir)));
const paramsBytes = new Uint8Array(readFileSync(new URL('params.bin', dir)));
const task = JSON.parse(readFileSync(new URL('task.json', dir), 'utf8')) as {
  module: string;
  input: string;
  units: number;
  limits: { memoryPages: number; outputBytes: number };
  merge: { kind: string; width: number; height: number; channels: number };
};
const module = new WebAssembly.Module(wasmBytes);

interface UnitExports {
  sc_abi_version(): number;
  sc_input(len: number): number;
  sc_run(unit: number, len: number): number;
  sc_output(): number;
}

/** Declared limits of the imported memory, read from the import section. */
function importedMemoryLimits(bytes: Uint8Array): { min: number; max: number | undefined } {
  let p = 8;
  const leb = (): number => {
    let result = 0;
    let shift = 0;
    let b: number;
    do {
      b = bytes[p++]!;
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return result;
  };
  const name = (): string => {
    const len = leb();
    const s = new TextDecoder().decode(bytes.subarray(p, p + len));
    p += len;
    return s;
  };
  while (p < bytes.length) {
    const id = bytes[p++]!;
    const size = leb();
    const end = p + size;
    if (id === 2) {
      const count = leb();
      for (let i = 0; i < count; i++) {
        name();
        name();
        const kind = bytes[p++]!;
        if (kind !== 2) throw new Error(`unexpected import kind ${kind}`);
        const flags = bytes[p++]!;
        const min = leb();
        const max = flags & 1 ? leb() : undefined;
        return { min, max };
      }
    }
    p = end;
  }
  throw new Error('no imported memory');
}

const limits = importedMemoryLimits(wasmBytes);
const memoryMax = Math.min(limits.max ?? Infinity, task.limits.memoryPages);

/** One unit exactly as a worker runs it: fresh instance, input, sc_run, output. */
function runUnit(unit: number, input: Uint8Array): { code: number; output: Uint8Array } {
  const memory = new WebAssembly.Memory({ initial: limits.min, maximum: memoryMax });
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const e = instance.exports as unknown as UnitExports;
  expect(e.sc_abi_version()).toBe(1);
  const ptr = e.sc_input(input.length);
  expect(ptr).toBeGreaterThan(0);
  new Uint8Array(memory.buffer, ptr, input.length).set(input);
  const code = e.sc_run(unit, input.length);
  if (code < 0) return { code, output: new Uint8Array(0) };
  const out = e.sc_output();
  expect(out + code).toBeLessThanOrEqual(memory.buffer.byteLength);
  return { code, output: new Uint8Array(memory.buffer, out, code).slice() };
}

function withParams(patch: Partial<MandelbrotParams>): Uint8Array {
  return encodeParams({ ...parseMandelbrotParams(paramsBytes), ...patch });
}

describe('examples/mandelbrot unit.wasm', () => {
  const params = parseMandelbrotParams(paramsBytes);

  it('imports only env.memory and exports exactly the four ABI functions', () => {
    expect(WebAssembly.Module.imports(module)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    const exports = WebAssembly.Module.exports(module)
      .map((e) => `${e.name}:${e.kind}`)
      .sort();
    expect(exports).toEqual(['sc_abi_version:function', 'sc_input:function', 'sc_output:function', 'sc_run:function']);
    expect(limits.max).toBeDefined();
    expect(limits.min).toBeLessThanOrEqual(task.limits.memoryPages);
  });

  it('task.json agrees with params.bin', () => {
    expect(task.module).toBe('unit.wasm');
    expect(task.input).toBe('params.bin');
    expect(task.units).toBe(mandelbrotUnitCount(params));
    expect(task.limits.outputBytes).toBe(params.rowsPerUnit * params.width * 3);
    expect(task.merge).toEqual({ kind: 'png', width: params.width, height: params.height, channels: 3 });
  });

  it('renders every band identically to the TypeScript reference', { timeout: 120_000 }, () => {
    const expected = renderMandelbrotReference(params);
    expect(expected.length).toBe(params.width * params.height * 3);

    const got = new Uint8Array(expected.length);
    let offset = 0;
    for (let u = 0; u < task.units; u++) {
      const rows = Math.min(params.height, (u + 1) * params.rowsPerUnit) - u * params.rowsPerUnit;
      const { code, output } = runUnit(u, paramsBytes);
      expect(code, `unit ${u}`).toBe(rows * params.width * 3);
      expect(code, `unit ${u}`).toBeLessThanOrEqual(task.limits.outputBytes);
      got.set(output, offset);
      offset += code;
    }
    expect(offset).toBe(expected.length);
    // Compare with a readable failure: the first differing byte, then the whole buffer.
    const firstDiff = got.findIndex((b, i) => b !== expected[i]);
    expect(firstDiff, `first differing byte (pixel ${Math.floor(firstDiff / 3)})`).toBe(-1);
    expect(Buffer.from(got).equals(Buffer.from(expected))).toBe(true);

    // The picture is not degenerate: it has both inside (black) and outside pixels.
    let black = 0;
    for (let i = 0; i < got.length; i += 3) if (got[i] === 0 && got[i + 1] === 0 && got[i + 2] === 0) black++;
    expect(black).toBeGreaterThan(0);
    expect(black).toBeLessThan(params.width * params.height);
  });

  it('a band with fewer rows than rowsPerUnit (last band of an uneven height)', () => {
    const small = { width: 40, height: 21, rowsPerUnit: 8, maxIter: 300 };
    const input = withParams(small);
    const expected = renderMandelbrotReference(parseMandelbrotParams(input));
    const bands = [0, 1, 2].map((u) => runUnit(u, input));
    expect(bands.map((b) => b.code)).toEqual([8 * 40 * 3, 8 * 40 * 3, 5 * 40 * 3]);
    const got = Buffer.concat(bands.map((b) => b.output));
    expect(got.equals(Buffer.from(expected))).toBe(true);
    expect(runUnit(3, input).code).toBeLessThan(0);
  });

  it('colours known points: the pixel nearest (-0.5, 0) is black, the top-left corner is outside', () => {
    const dx = (params.xMax - params.xMin) / params.width;
    const dy = (params.yMax - params.yMin) / params.height;
    const px = Math.round((-0.5 - params.xMin) / dx - 0.5);
    const py = Math.round((params.yMax - 0) / dy - 0.5);
    const unit = Math.floor(py / params.rowsPerUnit);
    const band = runUnit(unit, paramsBytes).output;
    const i = ((py - unit * params.rowsPerUnit) * params.width + px) * 3;
    expect([...band.subarray(i, i + 3)]).toEqual([0, 0, 0]);

    // Corner c = (-2.2 + dx/2, 1 - dy/2): |c|^2 > 4, so it escapes with n = 1.
    // Palette: s = 16, segment 0, f = 16 → ((0*240 + 32*16) >> 8, (7*240 + 107*16) >> 8,
    // (100*240 + 203*16) >> 8) = (2, 13, 106).
    const top = runUnit(0, paramsBytes).output;
    expect([...top.subarray(0, 3)]).toEqual([2, 13, 106]);
  });

  it('refuses malformed params with a negative code', () => {
    expect(runUnit(0, paramsBytes.subarray(0, 47)).code).toBeLessThan(0); // len 47
    expect(runUnit(0, Uint8Array.of(...paramsBytes, 0)).code).toBeLessThan(0); // len 49
    expect(runUnit(0, new Uint8Array(0)).code).toBeLessThan(0); // no input
    expect(runUnit(0, withParams({ width: 0 })).code).toBeLessThan(0);
    expect(runUnit(0, withParams({ height: 0 })).code).toBeLessThan(0);
    expect(runUnit(0, withParams({ rowsPerUnit: 0 })).code).toBeLessThan(0);
    expect(runUnit(0, withParams({ maxIter: 0 })).code).toBeLessThan(0);
    expect(runUnit(0, withParams({ width: 4097 })).code).toBeLessThan(0);
    // 4096 * 342 * 3 > 4 MiB output buffer
    expect(runUnit(0, withParams({ width: 4096, rowsPerUnit: 342, height: 342 })).code).toBeLessThan(0);
    expect(runUnit(0, withParams({ xMin: 1, xMax: 0 })).code).toBeLessThan(0);
    expect(runUnit(0, withParams({ yMax: Number.NaN })).code).toBeLessThan(0);
    expect(runUnit(0, withParams({ xMin: -Infinity })).code).toBeLessThan(0);
    expect(runUnit(-1, paramsBytes).code).toBeLessThan(0);
    expect(runUnit(task.units, paramsBytes).code).toBeLessThan(0);
    // The worst case the kernel allows still fits: 4096 * 341 rows * 3 bytes <= 4 MiB.
    expect(runUnit(0, withParams({ width: 4096, rowsPerUnit: 341, height: 341, maxIter: 1 })).code).toBe(
      4096 * 341 * 3,
    );
  });

  it('sc_input refuses more than its 64-byte buffer', () => {
    const memory = new WebAssembly.Memory({ initial: limits.min, maximum: memoryMax });
    const e = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as UnitExports;
    expect(e.sc_input(64)).toBeGreaterThan(0);
    expect(e.sc_input(65)).toBe(0);
    expect(e.sc_input(-1)).toBe(0);
  });
});
