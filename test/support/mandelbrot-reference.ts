// Independent TypeScript reference for examples/mandelbrot: computes the
// expected RGB image from the documented formula (see the header of
// examples/mandelbrot/kernel.c), without touching unit.wasm.

export interface MandelbrotParams {
  width: number;
  height: number;
  rowsPerUnit: number;
  maxIter: number;
  xMin: number;
  yMin: number;
  xMax: number;
  yMax: number;
}

export const MANDELBROT_PARAMS_BYTES = 48;

/** Parses params.bin: u32 width, height, rowsPerUnit, maxIter; f64 xMin, yMin, xMax, yMax (LE). */
export function parseMandelbrotParams(bytes: Uint8Array): MandelbrotParams {
  if (bytes.length !== MANDELBROT_PARAMS_BYTES) {
    throw new Error(`mandelbrot params must be ${MANDELBROT_PARAMS_BYTES} bytes, got ${bytes.length}`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    width: v.getUint32(0, true),
    height: v.getUint32(4, true),
    rowsPerUnit: v.getUint32(8, true),
    maxIter: v.getUint32(12, true),
    xMin: v.getFloat64(16, true),
    yMin: v.getFloat64(24, true),
    xMax: v.getFloat64(32, true),
    yMax: v.getFloat64(40, true),
  };
}

/** Number of units (bands) the params describe. */
export function mandelbrotUnitCount(p: MandelbrotParams): number {
  return Math.ceil(p.height / p.rowsPerUnit);
}

// Palette stops, cycled every 64 iterations: deep blue, blue, near white, gold.
const STOPS: readonly (readonly [number, number, number])[] = [
  [0, 7, 100],
  [32, 107, 203],
  [237, 255, 255],
  [255, 170, 0],
];

/** Escape-iteration count for the pixel centre c = (cx, cy), in f64, fixed operation order. */
export function mandelbrotIterations(cx: number, cy: number, maxIter: number): number {
  let x = 0;
  let y = 0;
  let n = 0;
  while (n < maxIter) {
    const x2 = x * x;
    const y2 = y * y;
    if (x2 + y2 > 4.0) break;
    y = 2 * x * y + cy;
    x = x2 - y2 + cx;
    n++;
  }
  return n;
}

/** RGB colour for an iteration count: black inside, else the integer blue-gold palette. */
export function mandelbrotColour(n: number, maxIter: number): [number, number, number] {
  if (n === maxIter) return [0, 0, 0];
  const s = (n * 16) % 1024;
  const seg = Math.floor(s / 256);
  const f = s % 256;
  const a = STOPS[seg]!;
  const b = STOPS[(seg + 1) % 4]!;
  return [0, 1, 2].map((c) => Math.floor((a[c]! * (256 - f) + b[c]! * f) / 256)) as [number, number, number];
}

/** The whole image, width*height*3 bytes, row-major, row 0 at yMax. */
export function renderMandelbrotReference(p: MandelbrotParams): Uint8Array {
  const out = new Uint8Array(p.width * p.height * 3);
  const dx = (p.xMax - p.xMin) / p.width;
  const dy = (p.yMax - p.yMin) / p.height;
  let o = 0;
  for (let py = 0; py < p.height; py++) {
    const cy = p.yMax - (py + 0.5) * dy;
    for (let px = 0; px < p.width; px++) {
      const cx = p.xMin + (px + 0.5) * dx;
      const [r, g, b] = mandelbrotColour(mandelbrotIterations(cx, cy, p.maxIter), p.maxIter);
      out[o++] = r;
      out[o++] = g;
      out[o++] = b;
    }
  }
  return out;
}
