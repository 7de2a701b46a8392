/*
 * Native driver for kernel.c, for performance comparison with unit.wasm.
 *
 *   build/mandelbrot-native [params.bin] [out.rgb]
 *
 * Reads the 48-byte params (default: params.bin), runs every unit through the
 * same ABI functions the wasm host uses, prints per-unit and total times to
 * stderr, and writes the raw RGB image (width*height*3 bytes) to out.rgb, or
 * to stdout if no output path (or "-") is given.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int32_t sc_abi_version(void);
intptr_t sc_input(int32_t len);
int32_t sc_run(int32_t unit, int32_t len);
intptr_t sc_output(void);

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint32_t rd_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

int main(int argc, char **argv) {
  const char *in_path = argc > 1 ? argv[1] : "params.bin";
  const char *out_path = argc > 2 ? argv[2] : "-";

  uint8_t params[64];
  FILE *f = fopen(in_path, "rb");
  if (!f) { perror(in_path); return 1; }
  size_t len = fread(params, 1, sizeof params, f);
  fclose(f);

  if (sc_abi_version() != 1) { fprintf(stderr, "bad ABI version\n"); return 1; }
  if (len < 16) { fprintf(stderr, "params too short (%zu bytes)\n", len); return 1; }
  uint32_t height = rd_u32(params + 4), rows = rd_u32(params + 8);
  if (rows == 0) { fprintf(stderr, "rowsPerUnit is 0\n"); return 1; }
  uint32_t units = (uint32_t)(((uint64_t)height + rows - 1) / rows);

  FILE *out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "wb");
  if (!out) { perror(out_path); return 1; }

  double total = 0, slowest = 0;
  for (uint32_t u = 0; u < units; u++) {
    uint8_t *p = (uint8_t *)(uintptr_t)sc_input((int32_t)len);
    if (!p) { fprintf(stderr, "sc_input(%zu) refused\n", len); return 1; }
    memcpy(p, params, len);
    double t0 = now_ms();
    int32_t m = sc_run((int32_t)u, (int32_t)len);
    double dt = now_ms() - t0;
    if (m < 0) { fprintf(stderr, "unit %u: sc_run returned %d\n", u, m); return 1; }
    total += dt;
    if (dt > slowest) slowest = dt;
    fprintf(stderr, "unit %3u: %8.3f ms  %d bytes\n", u, dt, m);
    fwrite((const void *)(uintptr_t)sc_output(), 1, (size_t)m, out);
  }
  if (out != stdout) fclose(out);
  fprintf(stderr, "units %u  total %.3f ms  mean %.3f ms  max %.3f ms\n", units,
          total, total / units, slowest);
  return 0;
}
