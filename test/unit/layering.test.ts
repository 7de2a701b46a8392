// The floors of the house, checked on every arrow between files. protocol/
// must run unchanged in the browser; the shared floor holds what more than one
// role uses, so that roles stand side by side instead of stacking; cli/ and
// extension/ sit on top; and nothing shipped leans on test code.

import { readdir, readFile } from 'node:fs/promises';
import { join, posix, relative, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { importsOf, SOURCE_EXTENSIONS } from '../support/imports.ts';

type Layer = 'protocol' | 'floor' | 'role' | 'top' | 'test' | 'example' | 'package' | 'types';

/** Every top-level folder with sources has a place; a new one is placed here on purpose. */
const LAYERS: Record<string, Layer> = {
  protocol: 'protocol',
  units: 'floor',
  net: 'floor',
  serve: 'floor',
  store: 'floor',
  tasker: 'role',
  worker: 'role',
  relay: 'role',
  tracker: 'role',
  mint: 'role',
  cli: 'top',
  extension: 'top',
  testnet: 'top',
  bench: 'top',
  bin: 'top',
  scripts: 'top',
  test: 'test',
  // Task sources as a task author writes them, against the public protocol.
  examples: 'example',
  // Local npm packages: the code imports them by name, as if from the registry.
  packages: 'package',
  // Ambient declarations for untyped packages, found through tsconfig.
  types: 'types',
};
/** Files at the root are the build and test configs. */
const ROOT_FILE_LAYER: Layer = 'top';

/** Vite's aliases, as WXT defines them for the extension's build. */
const ALIASES: Record<string, string> = { '@/': 'extension/', '~/': 'extension/', '@@/': '', '~~/': '' };

/** The protocol's server crypto backend: the one place it may touch Node. */
const NODE_BACKEND = 'protocol/crypto/node.ts';
const PROTOCOL_PACKAGES = [/^tweetnacl$/, /^@noble\//];
/** The backend's optional native speed-up, loaded only under Node. */
const NODE_BACKEND_PACKAGES = [/^sodium-native$/];

function folderOf(file: string): string {
  const slash = file.indexOf('/');
  return slash < 0 ? '' : file.slice(0, slash);
}

function layerOf(file: string): Layer | undefined {
  const folder = folderOf(file);
  return folder === '' ? ROOT_FILE_LAYER : LAYERS[folder];
}

/** The repo path `module` names from `file`, or undefined for a package. */
function targetOf(file: string, module: string): string | undefined {
  if (module.startsWith('./') || module.startsWith('../')) return posix.join(posix.dirname(file), module);
  for (const [alias, folder] of Object.entries(ALIASES)) {
    if (module.startsWith(alias)) return posix.join(folder, module.slice(alias.length));
  }
  return undefined;
}

function packageRule(file: string, from: Layer, module: string): string | undefined {
  // An absolute path or URL would hide which folder it reaches.
  if (module.startsWith('/') || module.startsWith('file:') || /^[a-z][a-z0-9+.-]*:\/\//i.test(module)) {
    return 'a module is named by a relative path or a package name';
  }
  if (from !== 'protocol') return undefined;
  if (file === NODE_BACKEND && (module.startsWith('node:') || NODE_BACKEND_PACKAGES.some((p) => p.test(module)))) {
    return undefined;
  }
  if (module.startsWith('node:')) return `Node built-ins in protocol/ belong only in ${NODE_BACKEND}`;
  if (PROTOCOL_PACKAGES.some((p) => p.test(module))) return undefined;
  return 'protocol/ uses no packages but tweetnacl and @noble/*';
}

/** The rule an arrow from `file` to the repo path `target` breaks, if any. */
function pathRule(file: string, from: Layer, target: string): string | undefined {
  if (target === '..' || target.startsWith('../')) return 'an import stays inside the repo';
  const to = layerOf(target);
  const sameFolder = folderOf(target) === folderOf(file) && folderOf(file) !== '';
  if (from === 'protocol') {
    if (target === NODE_BACKEND) return `${NODE_BACKEND} is Node-only: nothing in protocol/ imports it`;
    return to === 'protocol' ? undefined : 'protocol/ imports nothing else in the repo';
  }
  if (to === 'test' && from !== 'test') return 'only tests import test code';
  if (folderOf(target) === 'node_modules') return 'a package is imported by its name, not its path';
  if (from === 'package') {
    const own = file.split('/').slice(0, 2).join('/') + '/';
    return target.startsWith(own) ? undefined : 'a local package imports the repo only by package name';
  }
  if (to === 'package') return 'a local package is imported by its name, not its path';
  if (from === 'types') return to === 'types' ? undefined : 'types/ declares package shapes and imports nothing in the repo';
  if (to === 'types') return 'types/ holds ambient declarations: nothing imports it by path';
  if (to === undefined) return `${folderOf(target) || target}/ is no layer of the house`;
  if (sameFolder) return undefined;
  switch (from) {
    case 'floor':
      return to === 'protocol' || to === 'floor' ? undefined : 'the shared floor imports only protocol/ and the floor';
    case 'role':
      if (to === 'protocol' || to === 'floor') return undefined;
      return to === 'role' ? 'a role imports another role' : 'a role imports only protocol/, the shared floor and itself';
    case 'example':
      return to === 'protocol' ? undefined : 'an example imports only protocol/';
    default:
      return undefined; // the top and the tests may import anything else
  }
}

/**
 * Every arrow in `files` (repo-relative path → source text) that runs against
 * the floors, as "file imports specifier: rule". Empty when the house stands.
 */
function layeringViolations(files: ReadonlyMap<string, string>): string[] {
  const out = new Set<string>();
  for (const [file, text] of files) {
    const from = layerOf(file);
    if (!from) {
      out.add(`${folderOf(file)}/ holds sources but has no layer: give it one in LAYERS`);
      continue;
    }
    for (const ref of importsOf(file, text)) {
      const target = targetOf(file, ref.module);
      const rule = target !== undefined ? pathRule(file, from, target) : packageRule(file, from, ref.module);
      if (rule) out.add(`${file} imports ${ref.specifier}: ${rule}`);
    }
  }
  return [...out].sort();
}

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
/** Generated or local folders (see .gitignore): never part of the house. */
const SKIPPED_AT_ROOT = new Set(['.git', '.wxt', '.output', 'dist', 'coverage', 'test-artifacts', 'scratch', 'tmp']);

async function repoSources(dir = ROOT, out = new Map<string, string>()): Promise<Map<string, string>> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules' || (dir === ROOT && SKIPPED_AT_ROOT.has(entry.name))) continue;
      // A native addon's build output (packages/*/build, examples/*/build) is generated.
      if (entry.name === 'build' && /^(examples|packages)\/[^/]+$/.test(relative(ROOT, dir))) continue;
      await repoSources(path, out);
    } else if (SOURCE_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) {
      out.set(relative(ROOT, path), await readFile(path, 'utf8'));
    }
  }
  return out;
}

/** Made-up files: path → source, one string or its lines. */
function sources(entries: Record<string, string | string[]>): Map<string, string> {
  return new Map(Object.entries(entries).map(([path, text]) => [path, Array.isArray(text) ? text.join('\n') : text]));
}

describe('importsOf', () => {
  it('sees every way a file loads another module', () => {
    const text = [
      "import { a } from './a.ts';",
      "import type { B } from './b.ts';",
      "import './c.ts';",
      "export { d } from './d.ts';",
      "export * from './e.ts';",
      "const f = await import('./f.ts');",
      'const g = await import(`./g/${name}.ts`);',
      "const h = new Worker(new URL('./h.mjs', import.meta.url));",
      "const data = new URL('./data.json', import.meta.url);",
      "import W from './w.ts?worker';",
      "import { createRequire } from 'node:module';",
      "const pkg = createRequire(import.meta.url)('pkg');",
      'const load = createRequire(import.meta.url);',
      "load('other-pkg');",
      "type T = typeof import('./t.ts');",
      'await import(computed);',
    ].join('\n');
    expect(importsOf('x.ts', text).map((r) => `${r.kind} ${r.module}`)).toEqual([
      'import ./a.ts',
      'import ./b.ts',
      'side-effect ./c.ts',
      're-export ./d.ts',
      're-export ./e.ts',
      'dynamic ./f.ts',
      'dynamic ./g/*.ts',
      'url ./h.mjs',
      'import ./w.ts',
      'import node:module',
      'require pkg',
      'require other-pkg',
      'type ./t.ts',
    ]);
  });

  it('reads plain JavaScript modules', () => {
    const refs = importsOf('units/node/thread-entry.mjs', "await import('./thread-body.ts');\nrequire('./x.cjs');");
    expect(refs.map((r) => `${r.kind} ${r.module}`)).toEqual(['dynamic ./thread-body.ts', 'require ./x.cjs']);
  });
});

describe('layeringViolations', () => {
  it.each([
    [
      'a role importing another role',
      'relay/relay.ts',
      "import { x } from '../tracker/x.ts';",
      'relay/relay.ts imports ../tracker/x.ts: a role imports another role',
    ],
    [
      'a role importing the top',
      'worker/engine.ts',
      "import type { Settings } from '../extension/lib/settings.ts';",
      'worker/engine.ts imports ../extension/lib/settings.ts: a role imports only protocol/, the shared floor and itself',
    ],
    [
      'the floor importing a role through import()',
      'units/pool.ts',
      "const engine = await import('../worker/engine.ts');",
      'units/pool.ts imports ../worker/engine.ts: the shared floor imports only protocol/ and the floor',
    ],
    [
      'the floor re-exporting the top',
      'net/index.ts',
      "export * from '../cli/main.ts';",
      'net/index.ts imports ../cli/main.ts: the shared floor imports only protocol/ and the floor',
    ],
    [
      'a worker URL from protocol/ into units/',
      'protocol/run.ts',
      "const w = new Worker(new URL('../units/node/thread-entry.mjs', import.meta.url));",
      'protocol/run.ts imports ../units/node/thread-entry.mjs: protocol/ imports nothing else in the repo',
    ],
    [
      'a side-effect import from the floor into a role',
      'serve/log.ts',
      "import '../mint/server.ts';",
      'serve/log.ts imports ../mint/server.ts: the shared floor imports only protocol/ and the floor',
    ],
    [
      'a Vite ?worker import across roles',
      'tasker/local-run.ts',
      "import UnitWorker from '../worker/unit-worker.ts?worker';",
      'tasker/local-run.ts imports ../worker/unit-worker.ts?worker: a role imports another role',
    ],
    [
      'a template import() into another role',
      'mint/server.ts',
      'const route = await import(`../relay/${name}.ts`);',
      'mint/server.ts imports ../relay/*.ts: a role imports another role',
    ],
    [
      'a .mjs thread entry loading a role',
      'units/node/thread-entry.mjs',
      "await import('../../worker/thread-body.ts');",
      'units/node/thread-entry.mjs imports ../../worker/thread-body.ts: the shared floor imports only protocol/ and the floor',
    ],
    [
      'bench/ importing test code',
      'bench/run.ts',
      "import { mesh } from '../test/support/mesh.ts';",
      'bench/run.ts imports ../test/support/mesh.ts: only tests import test code',
    ],
    [
      'the demo importing test code',
      'cli/demo.ts',
      "import { caught } from '../test/support/caught.ts';",
      'cli/demo.ts imports ../test/support/caught.ts: only tests import test code',
    ],
    [
      'protocol/ using Node outside its backend',
      'protocol/hash.ts',
      "import { createHash } from 'node:crypto';",
      'protocol/hash.ts imports node:crypto: Node built-ins in protocol/ belong only in protocol/crypto/node.ts',
    ],
    [
      'protocol/ requiring a package',
      'protocol/encoding.ts',
      "const ws = createRequire(import.meta.url)('ws');",
      'protocol/encoding.ts imports ws: protocol/ uses no packages but tweetnacl and @noble/*',
    ],
    [
      'protocol/ importing its Node backend',
      'protocol/crypto/index.ts',
      "export { nodeCrypto } from './node.ts';",
      'protocol/crypto/index.ts imports ./node.ts: protocol/crypto/node.ts is Node-only: nothing in protocol/ imports it',
    ],
    [
      'a local package imported by path',
      'units/node/thread.ts',
      "import '../../packages/webrtc-polyfill/index.js';",
      'units/node/thread.ts imports ../../packages/webrtc-polyfill/index.js: a local package is imported by its name, not its path',
    ],
    [
      'an import by absolute path',
      'worker/engine.ts',
      "import '/srv/tracker/tracker.ts';",
      'worker/engine.ts imports /srv/tracker/tracker.ts: a module is named by a relative path or a package name',
    ],
    [
      'an import leaving the repo',
      'cli/main.ts',
      "import '../../elsewhere/x.ts';",
      'cli/main.ts imports ../../elsewhere/x.ts: an import stays inside the repo',
    ],
  ])('reports %s', (_name, file, text, message) => {
    expect(layeringViolations(sources({ [file]: text }))).toEqual([message]);
  });

  it('reports a folder that has no layer', () => {
    expect(layeringViolations(sources({ 'gadgets/x.ts': "import '../protocol/x.ts';" }))).toEqual([
      'gadgets/ holds sources but has no layer: give it one in LAYERS',
    ]);
  });

  it('reports nothing for a house that stands', () => {
    const clean = sources({
      'protocol/crypto/node.ts': [
        "import { createHash } from 'node:crypto';",
        "const sodium = createRequire(import.meta.url)('sodium-native');",
      ],
      'protocol/messages/index.ts': [
        "import nacl from 'tweetnacl';",
        "import { sha256 } from '@noble/hashes/sha2.js';",
        "import { x } from '../encoding.ts';",
      ],
      'units/node/node-thread.ts': [
        "const ENTRY = new URL('./thread-entry.mjs', import.meta.url);",
        "import { y } from '../../protocol/x.ts';",
      ],
      'units/browser/web-worker-thread.ts': "import UnitWorker from './unit-worker.ts?worker';",
      'units/node/thread-entry.mjs': "await import('./thread-body.ts');",
      'net/mint-client.ts': ["import { routes } from '../protocol/mint-api.ts';", "import { pool } from '../units/pool.ts';"],
      'serve/ws.ts': "const ws = createRequire(import.meta.url)('ws');",
      'relay/relay.ts': ["import '../serve/signalling.ts';", "import { a } from './circuit.ts';"],
      'worker/engine.ts': [
        "import { pool } from '../units/pool.ts';",
        "import type { M } from '../protocol/messages/index.ts';",
      ],
      'cli/main.ts': ["const m = await import('./demo.ts');", "import { run } from '../tasker/session.ts';"],
      'cli/demo.ts': [
        "import { mesh } from '../testnet/mesh.ts';",
        "const bin = new URL('../bin/cycles.mjs', import.meta.url);",
      ],
      'bench/run.ts': [
        "import { mesh } from '../testnet/mesh.ts';",
        "const out = new URL('./results.json', import.meta.url);",
      ],
      // Reading a test fixture's data is no import of test code.
      'testnet/wasm.ts': 'const wat = new URL(`../test/fixtures/wasm/${name}.wat`, import.meta.url);',
      'test/unit/x.test.ts': ["import { mesh } from '../../testnet/mesh.ts';", "import { c } from '../support/caught.ts';"],
      'packages/ristretto-sodium/index.js': "module.exports = require('./build/Release/ristretto.node');",
      'types/webtorrent.d.ts': "declare module 'webtorrent' { type S = import('node:stream').Duplex; }",
      'examples/mandelbrot/make-params.ts': "import { writeFileSync } from 'node:fs';",
      'wxt.config.ts': "import { defineConfig } from 'wxt';",
    });
    expect(layeringViolations(clean)).toEqual([]);
  });
});

describe('the repo', () => {
  let files: Map<string, string>;
  beforeAll(async () => {
    files = await repoSources();
  });

  it('stands on its floors', () => {
    // The walk must have found the house before an empty report means anything,
    // and the table lists the folders as they are.
    for (const folder of Object.keys(LAYERS)) {
      expect([...files.keys()].some((f) => folderOf(f) === folder), folder).toBe(true);
    }
    expect(layeringViolations(files)).toEqual([]);
  });

  it('fails once one arrow against the floors is added to it', () => {
    const bent = new Map(files);
    bent.set('relay/relay.ts', `${files.get('relay/relay.ts')}\nawait import('../tracker/tracker.ts');\n`);
    expect(layeringViolations(bent)).toEqual(['relay/relay.ts imports ../tracker/tracker.ts: a role imports another role']);
  });
});
