/*
 * SpareCycles example task: the Mandelbrot set, one horizontal band per unit.
 *
 * Freestanding C for the unit ABI v1 (docs/unit-abi.md): no libc, no imports
 * except the host-provided memory. Built by build.sh both as unit.wasm and,
 * together with native_main.c, as a native binary for comparison.
 *
 * Input (params.bin, 48 bytes, little-endian):
 *   off  0  u32 width        1 ..= 4096
 *   off  4  u32 height       >= 1
 *   off  8  u32 rowsPerUnit  >= 1, rowsPerUnit * width * 3 <= 4 MiB
 *   off 12  u32 maxIter      >= 1
 *   off 16  f64 xMin         finite, xMin < xMax
 *   off 24  f64 yMin         finite, yMin < yMax
 *   off 32  f64 xMax         finite
 *   off 40  f64 yMax         finite
 * (4 u32 + 4 f64 = exactly 48 bytes; there is no reserved tail, and any other
 * length is refused.)
 *
 * Unit u covers rows [u*rowsPerUnit, min(height, (u+1)*rowsPerUnit)); the
 * output is those rows, row-major, 3 bytes (R, G, B) per pixel.
 *
 * Pixel (px, py), all arithmetic in IEEE f64, in exactly this order:
 *   dx = (xMax - xMin) / width        dy = (yMax - yMin) / height
 *   cx = xMin + (px + 0.5) * dx       cy = yMax - (py + 0.5) * dy   (row 0 = top)
 *   x = 0, y = 0, n = 0
 *   while (n < maxIter) {
 *     x2 = x*x; y2 = y*y;
 *     if (x2 + y2 > 4.0) break;
 *     y = 2*x*y + cy;                 (i.e. (2*x)*y, then + cy)
 *     x = x2 - y2 + cx;               (i.e. (x2 - y2), then + cx)
 *     n++;
 *   }
 *
 * Palette (integers only; an independent reference must reproduce it):
 *   if n == maxIter: (0, 0, 0)                        inside the set: black
 *   else:
 *     s   = (n * 16) % 1024           position in a 64-iteration cycle
 *     seg = s / 256, f = s % 256      segment 0..3, fraction 0..255
 *     A = STOP[seg], B = STOP[(seg + 1) % 4]
 *     channel = (A.c * (256 - f) + B.c * f) / 256     (integer division)
 *   STOP[0] = (  0,   7, 100)  deep blue
 *   STOP[1] = ( 32, 107, 203)  blue
 *   STOP[2] = (237, 255, 255)  near white
 *   STOP[3] = (255, 170,   0)  gold
 *
 * sc_run error codes:
 *   -1  len != 48
 *   -2  width, height, rowsPerUnit or maxIter is 0, or width > 4096
 *   -3  rowsPerUnit * width * 3 > 4 MiB (output buffer)
 *   -4  coordinates not finite or not xMin < xMax, yMin < yMax
 *   -5  unit index negative or past the last row
 *   -6  (wasm only) linear memory too small for the output buffer; cannot
 *       happen with the memory minimum build.sh declares
 */

#include <stdint.h>

#define SC_INPUT_CAP 64u
#define SC_PARAMS_LEN 48
#define SC_MAX_WIDTH 4096u
#define SC_OUTPUT_CAP (4u * 1024u * 1024u)

static uint8_t input_buf[SC_INPUT_CAP];

#ifdef __wasm__
/*
 * The 4 MiB output buffer is a fixed region starting at the linker's
 * __heap_base (just past the stack and static data), not a static array:
 * with --import-memory, wasm-ld 14 writes .bss out as a zero-filled data
 * segment, which would make unit.wasm 4 MiB. build.sh sets --initial-memory
 * so that the module's declared minimum covers the region; sc_run checks it.
 */
extern uint8_t __heap_base[];
#define output_buf (__heap_base)
#else
static uint8_t output_buf[SC_OUTPUT_CAP];
#endif

static const uint8_t STOP[4][3] = {
  {0, 7, 100},
  {32, 107, 203},
  {237, 255, 255},
  {255, 170, 0},
};

static uint32_t rd_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

static uint64_t rd_u64(const uint8_t *p) {
  return (uint64_t)rd_u32(p) | ((uint64_t)rd_u32(p + 4) << 32);
}

static double rd_f64(const uint8_t *p) {
  union {
    uint64_t u;
    double d;
  } v;
  v.u = rd_u64(p);
  return v.d;
}

static int is_finite(double v) {
  /* inf - inf and NaN - NaN are NaN, and NaN == 0.0 is false */
  return (v - v) == 0.0;
}

int32_t sc_abi_version(void) { return 1; }

/* Pointers are returned as intptr_t: i32 on wasm32, as the ABI requires, and
   a full pointer in the native build. */
intptr_t sc_input(int32_t len) {
  if (len < 0 || (uint32_t)len > SC_INPUT_CAP) return 0;
  return (intptr_t)input_buf;
}

intptr_t sc_output(void) { return (intptr_t)output_buf; }

int32_t sc_run(int32_t unit, int32_t len) {
  if (len != SC_PARAMS_LEN) return -1;

  const uint8_t *in = input_buf;
  uint32_t width = rd_u32(in + 0);
  uint32_t height = rd_u32(in + 4);
  uint32_t rows_per_unit = rd_u32(in + 8);
  uint32_t max_iter = rd_u32(in + 12);
  double x_min = rd_f64(in + 16);
  double y_min = rd_f64(in + 24);
  double x_max = rd_f64(in + 32);
  double y_max = rd_f64(in + 40);

  if (width == 0 || height == 0 || rows_per_unit == 0 || max_iter == 0 ||
      width > SC_MAX_WIDTH)
    return -2;
  if ((uint64_t)rows_per_unit * width * 3u > SC_OUTPUT_CAP) return -3;
  if (!is_finite(x_min) || !is_finite(y_min) || !is_finite(x_max) ||
      !is_finite(y_max) || !(x_min < x_max) || !(y_min < y_max))
    return -4;
  if (unit < 0) return -5;
#ifdef __wasm__
  if ((uint64_t)(uintptr_t)output_buf + SC_OUTPUT_CAP >
      (uint64_t)__builtin_wasm_memory_size(0) * 65536u)
    return -6;
#endif

  uint64_t row0 = (uint64_t)(uint32_t)unit * rows_per_unit;
  if (row0 >= height) return -5;
  uint64_t row1 = row0 + rows_per_unit;
  if (row1 > height) row1 = height;

  double dx = (x_max - x_min) / (double)width;
  double dy = (y_max - y_min) / (double)height;

  uint8_t *out = output_buf;
  for (uint32_t py = (uint32_t)row0; py < (uint32_t)row1; py++) {
    double cy = y_max - ((double)py + 0.5) * dy;
    for (uint32_t px = 0; px < width; px++) {
      double cx = x_min + ((double)px + 0.5) * dx;
      double x = 0.0, y = 0.0;
      uint32_t n = 0;
      while (n < max_iter) {
        double x2 = x * x;
        double y2 = y * y;
        if (x2 + y2 > 4.0) break;
        y = 2.0 * x * y + cy;
        x = x2 - y2 + cx;
        n++;
      }
      if (n == max_iter) {
        out[0] = 0;
        out[1] = 0;
        out[2] = 0;
      } else {
        uint32_t s = (n * 16u) % 1024u;
        uint32_t seg = s / 256u;
        uint32_t f = s % 256u;
        const uint8_t *a = STOP[seg];
        const uint8_t *b = STOP[(seg + 1u) % 4u];
        out[0] = (uint8_t)((a[0] * (256u - f) + b[0] * f) / 256u);
        out[1] = (uint8_t)((a[1] * (256u - f) + b[1] * f) / 256u);
        out[2] = (uint8_t)((a[2] * (256u - f) + b[2] * f) / 256u);
      }
      out += 3;
    }
  }
  return (int32_t)(out - output_buf);
}
