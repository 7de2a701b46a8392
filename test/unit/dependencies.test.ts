// package.json says what the code needs. Every package that code reachable at
// run time imports (from the `cycles` command, its unit and mint threads, the
// extension's entrypoints, and local packages that replace registry ones) is
// a dependency, so `npm ci --omit=dev` leaves a `cycles` that starts; every
// other import is at least a dev dependency; and nothing is declared that
// nothing imports. `npm run test:long` checks the same by installing for real.

import { readdir, readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join, posix, relative, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { importsOf, SOURCE_EXTENSIONS } from '../support/imports.ts';

interface Manifest {
  name?: string;
  bin?: string | Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  overrides?: Record<string, unknown>;
}

/** The repo: source files (path → text) and every package.json (folder → manifest, '' for the root). */
interface Repo {
  files: ReadonlyMap<string, string>;
  manifests: ReadonlyMap<string, Manifest>;
}

/** Vite's aliases, as WXT defines them for the extension's build. */
const ALIASES: Record<string, string> = { '@/': 'extension/', '~/': 'extension/', '@@/': '', '~~/': '' };
/** WXT discovers the extension's entrypoints by folder; each file there is bundled. */
const EXTENSION_ENTRYPOINTS = 'extension/entrypoints/';
/**
 * The build tool's own modules, which it compiles into the bundle it makes
 * (`wxt/browser`): only building the extension needs them, and building is
 * what dev dependencies are for.
 */
const BUILD_TOOL_PACKAGES: Record<string, readonly string[]> = { 'extension/': ['wxt'] };
/** Type declarations: the compiler reads them, nothing imports them. */
const TYPES_ONLY = /^@types\//;

type Ref = { kind: 'file'; path: string } | { kind: 'package'; name: string } | { kind: 'builtin' };

function refOf(file: string, module: string): Ref {
  if (module.startsWith('./') || module.startsWith('../')) return { kind: 'file', path: posix.join(posix.dirname(file), module) };
  for (const [alias, folder] of Object.entries(ALIASES)) {
    if (module.startsWith(alias)) return { kind: 'file', path: posix.join(folder, module.slice(alias.length)) };
  }
  if (module.startsWith('node:') || builtinModules.includes(module.split('/')[0]!)) return { kind: 'builtin' };
  const parts = module.split('/');
  return { kind: 'package', name: module.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]! };
}

/** The local package (its folder under packages/) that holds `file`, or '' for the root project. */
function projectOf(file: string, repo: Repo): string {
  const match = /^packages\/[^/]+/.exec(file);
  return match && repo.manifests.has(match[0]) ? match[0] : '';
}

function localPackages(repo: Repo): Map<string, string> {
  const out = new Map<string, string>();
  for (const [folder, manifest] of repo.manifests) if (folder && manifest.name) out.set(manifest.name, folder);
  return out;
}

function inFolder(folder: string, repo: Repo): string[] {
  return [...repo.files.keys()].filter((file) => file.startsWith(`${folder}/`));
}

/** Where run time starts: the manifest's commands, the extension's entrypoints, and local packages that stand in for registry ones. */
function runtimeRoots(repo: Repo): string[] {
  const root = repo.manifests.get('') ?? {};
  const bins = typeof root.bin === 'string' ? [root.bin] : Object.values(root.bin ?? {});
  const roots = bins.map((bin) => posix.normalize(bin));
  roots.push(...[...repo.files.keys()].filter((file) => file.startsWith(EXTENSION_ENTRYPOINTS)));
  const local = localPackages(repo);
  for (const [name, spec] of Object.entries(root.overrides ?? {})) {
    const folder = typeof spec === 'string' && spec.startsWith('file:') ? local.get(name) : undefined;
    if (folder) roots.push(...inFolder(folder, repo));
  }
  return roots;
}

/** Every file reached from `roots` through the modules they load (workers' entry URLs and dynamic imports included). */
function reachable(roots: readonly string[], repo: Repo): { files: Set<string>; problems: string[] } {
  const files = new Set<string>();
  const problems: string[] = [];
  const queue = [...roots];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    const text = repo.files.get(file);
    if (text === undefined) {
      problems.push(`${file} is loaded at run time but is not in the repo`);
      continue;
    }
    files.add(file);
    for (const ref of importsOf(file, text)) {
      const target = refOf(file, ref.module);
      if (target.kind !== 'file') continue;
      if (target.path.includes('*')) problems.push(`${file} loads ${ref.specifier}, which cannot be followed: name each module`);
      else queue.push(target.path);
    }
  }
  return { files, problems };
}

/**
 * Every way the manifests disagree with the imports, as "who: what is wrong".
 * Empty when package.json says what the code needs.
 */
function dependencyProblems(repo: Repo): string[] {
  const problems = new Set<string>();
  const local = localPackages(repo);
  const root = repo.manifests.get('') ?? {};
  const { files: runtime, problems: unreachable } = reachable(runtimeRoots(repo), repo);
  unreachable.forEach((problem) => problems.add(problem));

  const used = new Map<string, Set<string>>(); // project → packages its files import
  for (const [file, text] of repo.files) {
    const project = projectOf(file, repo);
    const manifest = repo.manifests.get(project) ?? {};
    const runtimeDeclared = { ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies };
    const declared = { ...runtimeDeclared, ...manifest.devDependencies };
    const atRunTime = runtime.has(file);
    const buildTool = Object.entries(BUILD_TOOL_PACKAGES).find(([folder]) => file.startsWith(folder))?.[1] ?? [];
    for (const ref of importsOf(file, text)) {
      const target = refOf(file, ref.module);
      if (target.kind !== 'package') continue;
      const name = target.name;
      if (!used.has(project)) used.set(project, new Set());
      used.get(project)!.add(name);
      if (name === manifest.name) continue; // a package loading itself by name
      // A local package is declared where it is used: the root's optional or override entries point at it.
      if (!(name in declared) && !(project === '' && local.has(name) && name in (root.overrides ?? {}))) {
        problems.add(`${file} imports ${name}, which ${project || 'package.json'} does not declare`);
      } else if (atRunTime && !(name in runtimeDeclared) && !buildTool.includes(name)) {
        problems.add(`${file} runs in production and imports ${name}, a dev dependency: make it a dependency`);
      }
      // What a stand-in package loads at run time, the root must install without dev dependencies.
      if (atRunTime && project !== '' && !(name in { ...root.dependencies, ...root.optionalDependencies })) {
        problems.add(`${file} stands in for a registry package and imports ${name}: the root's dependencies must have it`);
      }
    }
  }

  for (const [project, manifest] of repo.manifests) {
    const imported = used.get(project) ?? new Set();
    // The root installs what its stand-in packages import.
    if (project === '') {
      for (const [other, names] of used) if (other !== '') names.forEach((name) => imported.add(name));
    }
    for (const name of Object.keys({ ...manifest.dependencies, ...manifest.devDependencies, ...manifest.optionalDependencies })) {
      if (!TYPES_ONLY.test(name) && !imported.has(name)) {
        problems.add(`${project || 'package.json'} declares ${name}, which nothing imports: remove it`);
      }
    }
  }
  return [...problems].sort();
}

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
/** Generated or local folders (see .gitignore). */
const SKIPPED_AT_ROOT = new Set(['.git', '.wxt', '.output', 'dist', 'coverage', 'test-artifacts', 'scratch', 'tmp']);

async function readRepo(dir = ROOT, repo = { files: new Map<string, string>(), manifests: new Map<string, Manifest>() }): Promise<Repo> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const rel = relative(ROOT, path);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules' || (dir === ROOT && SKIPPED_AT_ROOT.has(entry.name))) continue;
      if (entry.name === 'build' && /^(examples|packages)\/[^/]+$/.test(relative(ROOT, dir))) continue;
      await readRepo(path, repo);
    } else if (entry.name === 'package.json') {
      repo.manifests.set(relative(ROOT, dir), JSON.parse(await readFile(path, 'utf8')) as Manifest);
    } else if (SOURCE_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) {
      repo.files.set(rel, await readFile(path, 'utf8'));
    }
  }
  return repo;
}

/** A made-up repo: files (path → source lines) and manifests (folder → package.json). */
function repoOf(files: Record<string, string[]>, manifests: Record<string, Manifest>): Repo {
  return {
    files: new Map(Object.entries(files).map(([path, lines]) => [path, lines.join('\n')])),
    manifests: new Map(Object.entries(manifests)),
  };
}

const MANIFEST: Manifest = {
  bin: { app: 'bin/app.mjs' },
  dependencies: { run: '1' },
  devDependencies: { dev: '1', wxt: '1' },
};
const FILES: Record<string, string[]> = {
  'bin/app.mjs': ["await import('../cli/main.ts');"],
  'cli/main.ts': ["import 'run';", "import { readFile } from 'node:fs';", "import path from 'path';"],
  'test/a.test.ts': ["import 'dev';", "import '../cli/main.ts';"],
  'wxt.config.ts': ["import 'wxt';"],
  'extension/entrypoints/background.ts': ["import { browser } from 'wxt/browser';", "import '@/lib/x.ts';"],
  'extension/lib/x.ts': ["import 'run/sub/path.js';"],
};

describe('dependencyProblems', () => {
  it('finds none where the manifest says what the code needs', () => {
    expect(dependencyProblems(repoOf(FILES, { '': MANIFEST }))).toEqual([]);
  });

  it('flags a dev dependency that the command reaches, through a dynamic import and a worker URL', () => {
    const files = {
      ...FILES,
      'cli/main.ts': ["import 'run';", "new Worker(new URL('../units/entry.mjs', import.meta.url));"],
      'units/entry.mjs': ["await import('./body.ts');"],
      'units/body.ts': ["import 'dev';"],
    };
    expect(dependencyProblems(repoOf(files, { '': MANIFEST }))).toEqual([
      'units/body.ts runs in production and imports dev, a dev dependency: make it a dependency',
    ]);
  });

  it('flags a dev dependency in the extension, past its aliases, but not the build tool', () => {
    const files = { ...FILES, 'extension/lib/x.ts': ["import 'dev';", "import 'wxt/browser';"] };
    expect(dependencyProblems(repoOf(files, { '': MANIFEST }))).toEqual([
      'extension/lib/x.ts runs in production and imports dev, a dev dependency: make it a dependency',
    ]);
  });

  it('flags an undeclared import anywhere, a scoped package by its scope and name', () => {
    const files = { ...FILES, 'bench/b.ts': ["import { x } from '@scope/pkg/deep.js';"] };
    expect(dependencyProblems(repoOf(files, { '': MANIFEST }))).toEqual([
      'bench/b.ts imports @scope/pkg, which package.json does not declare',
    ]);
  });

  it('flags a declared package that nothing imports, but not type declarations', () => {
    const manifest = { ...MANIFEST, dependencies: { ...MANIFEST.dependencies, unused: '1', '@types/run': '1' } };
    expect(dependencyProblems(repoOf(FILES, { '': manifest }))).toEqual([
      'package.json declares unused, which nothing imports: remove it',
    ]);
  });

  it('holds a stand-in local package to its own manifest, and the root to what it loads', () => {
    const manifests: Record<string, Manifest> = {
      '': { ...MANIFEST, overrides: { shim: 'file:./packages/shim' } },
      'packages/shim': { name: 'shim', peerDependencies: { native: '1' } },
    };
    const files = { ...FILES, 'packages/shim/index.js': ["module.exports = require('native');", "require('other');"] };
    expect(dependencyProblems(repoOf(files, manifests))).toEqual([
      "packages/shim/index.js imports other, which packages/shim does not declare",
      "packages/shim/index.js stands in for a registry package and imports native: the root's dependencies must have it",
      "packages/shim/index.js stands in for a registry package and imports other: the root's dependencies must have it",
    ]);
    manifests[''] = { ...manifests['']!, dependencies: { ...MANIFEST.dependencies, native: '1', other: '1' } };
    manifests['packages/shim'] = { name: 'shim', peerDependencies: { native: '1', other: '1' } };
    expect(dependencyProblems(repoOf(files, manifests))).toEqual([]);
  });

  it('flags a module loaded at run time that is missing, or named by a template', () => {
    const files = { ...FILES, 'cli/main.ts': ["import 'run';", "await import('./gone.ts');", 'await import(`./cmd/${name}.ts`);'] };
    expect(dependencyProblems(repoOf(files, { '': MANIFEST }))).toEqual([
      'cli/gone.ts is loaded at run time but is not in the repo',
      'cli/main.ts loads ./cmd/*.ts, which cannot be followed: name each module',
    ]);
  });
});

describe('package.json', () => {
  let repo: Repo;
  beforeAll(async () => {
    repo = await readRepo();
  });

  it('declares what the code imports: run-time packages as dependencies, nothing unused', () => {
    expect(dependencyProblems(repo)).toEqual([]);
  });

  it('reaches the command, its threads and the extension from the run-time roots', () => {
    const { files } = reachable(runtimeRoots(repo), repo);
    const root = repo.manifests.get('')!;
    const bins = typeof root.bin === 'string' ? [root.bin] : Object.values(root.bin ?? {});
    // The walk must go past the command's own file, into the sub-commands it loads lazily and their threads' entries.
    for (const bin of bins) expect(files.has(posix.normalize(bin))).toBe(true);
    const threadEntries = [...files].filter((file) => file.endsWith('.mjs') && !file.startsWith('bin/'));
    expect(threadEntries.length).toBeGreaterThan(0);
    expect([...files].filter((file) => file.startsWith(EXTENSION_ENTRYPOINTS)).length).toBeGreaterThan(0);
  });
});
