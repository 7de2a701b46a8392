// `wxt prepare` writes .wxt/ (the extension's generated types and the
// tsconfig that tsconfig.json extends). WXT is a dev dependency: an install
// without dev dependencies (`npm ci --omit=dev`) only runs `cycles`, needs no
// .wxt/, and has no wxt to run.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const manifest = `${root}node_modules/wxt/package.json`;

if (existsSync(manifest)) {
  const bin = JSON.parse(readFileSync(manifest, 'utf8')).bin.wxt;
  const { status, signal } = spawnSync(process.execPath, [`${root}node_modules/wxt/${bin}`, 'prepare'], { cwd: root, stdio: 'inherit' });
  process.exitCode = status ?? (signal ? 1 : 0);
}
