#!/usr/bin/env bash
# Rebuilds the Mandelbrot example task:
#   unit.wasm                  kernel.c for the unit ABI v1 (committed)
#   params.bin                 48-byte shared input, from make-params.ts (committed)
#   build/mandelbrot-native    kernel.c + native_main.c, for timing comparison (scratch)
# Usage: examples/mandelbrot/build.sh   (from anywhere)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

CC="${CC:-clang-14}"
PAGE=65536
# Memory layout (--stack-first): 64 KiB stack, then the static data (palette,
# 64-byte input buffer), then from __heap_base the 4 MiB output buffer. That
# needs 66 pages, declared as the module's minimum; the maximum of 72 pages
# leaves a little slack (the module never grows its memory) and matches
# limits.memoryPages in task.json.
MIN_PAGES=66
MAX_PAGES=72

# clang-14 runs `wasm-ld`; Debian ships it as /usr/lib/llvm-14/bin/wasm-ld (found
# by clang) and /usr/bin/wasm-ld-14. If clang cannot find it, put a symlink to
# wasm-ld-14 in a temporary directory on PATH.
tmpbin=""
cleanup() { [ -n "$tmpbin" ] && rm -rf "$tmpbin"; }
trap cleanup EXIT
ld_prog="$("$CC" --target=wasm32 -print-prog-name=wasm-ld)"
if ! command -v "$ld_prog" >/dev/null 2>&1; then
  tmpbin="$(mktemp -d)"
  ln -s "$(command -v wasm-ld-14)" "$tmpbin/wasm-ld"
  export PATH="$tmpbin:$PATH"
fi

WASM_FLAGS=(
  --target=wasm32 -O2 -nostdlib -ffreestanding -ffp-contract=off
  -Wall -Wextra -Werror
  -Wl,--no-entry
  -Wl,--import-memory
  -Wl,--stack-first -Wl,-z,stack-size=$PAGE
  -Wl,--initial-memory=$((MIN_PAGES * PAGE))
  -Wl,--max-memory=$((MAX_PAGES * PAGE))
  -Wl,--export=sc_abi_version
  -Wl,--export=sc_input
  -Wl,--export=sc_run
  -Wl,--export=sc_output
  -Wl,--strip-all
)
set -x
"$CC" "${WASM_FLAGS[@]}" -o unit.wasm kernel.c
chmod 644 unit.wasm
{ set +x; } 2>/dev/null

# Check the ABI surface: imports exactly env.memory, exports exactly the four
# functions (in particular no exported memory).
node -e '
const fs = require("fs");
const m = new WebAssembly.Module(fs.readFileSync(process.argv[1]));
const imports = WebAssembly.Module.imports(m);
const exports = WebAssembly.Module.exports(m);
const want = ["sc_abi_version", "sc_input", "sc_output", "sc_run"];
const got = exports.map((e) => `${e.name}:${e.kind}`).sort();
const okImports = imports.length === 1 && imports[0].module === "env" &&
  imports[0].name === "memory" && imports[0].kind === "memory";
const okExports = JSON.stringify(got) === JSON.stringify(want.map((n) => `${n}:function`));
console.log("unit.wasm imports:", JSON.stringify(imports));
console.log("unit.wasm exports:", got.join(" "));
if (!okImports || !okExports) { console.error("unit.wasm does not follow the unit ABI"); process.exit(1); }
' unit.wasm

(cd "$repo" && npx tsx examples/mandelbrot/make-params.ts "$here/params.bin")

mkdir -p build
set -x
"$CC" -O2 -ffp-contract=off -Wall -Wextra -Werror -o build/mandelbrot-native kernel.c native_main.c
{ set +x; } 2>/dev/null
echo "built unit.wasm ($(wc -c <unit.wasm) bytes), params.bin, build/mandelbrot-native"
