// Writes params.bin, the shared input of the Mandelbrot example task.
// Layout (48 bytes, little-endian): u32 width, u32 height, u32 rowsPerUnit,
// u32 maxIter, f64 xMin, f64 yMin, f64 xMax, f64 yMax.
//
// maxIter 2500 puts the wasm time per unit at roughly 20-75 ms for the
// central bands (the top and bottom bands, mostly far outside the set, take
// well under 10 ms) and about 1.1 s for all 32 units on one core.
//
//   npx tsx examples/mandelbrot/make-params.ts [out-path]
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEFAULT_PARAMS = {
  width: 768,
  height: 512,
  rowsPerUnit: 16,
  maxIter: 2500,
  xMin: -2.2,
  yMin: -1.0,
  xMax: 0.8,
  yMax: 1.0,
} as const;

export function encodeParams(p: { readonly [K in keyof typeof DEFAULT_PARAMS]: number }): Uint8Array {
  const bytes = new Uint8Array(48);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, p.width, true);
  v.setUint32(4, p.height, true);
  v.setUint32(8, p.rowsPerUnit, true);
  v.setUint32(12, p.maxIter, true);
  v.setFloat64(16, p.xMin, true);
  v.setFloat64(24, p.yMin, true);
  v.setFloat64(32, p.xMax, true);
  v.setFloat64(40, p.yMax, true);
  return bytes;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), 'params.bin');
  writeFileSync(out, encodeParams(DEFAULT_PARAMS));
  console.log(`wrote ${out}`);
}
