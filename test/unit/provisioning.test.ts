// `npm test` installs what the tests take from the system before any test runs
// (scripts/provision.ts), from one list (testnet/system-tools.ts). CI's machine
// already has every tool, so it cannot notice one missing from the list: this
// reads the sources of the tests, the harness and the benchmarks for every
// program they start, and checks the list names each one.

import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpareCyclesError } from '../../protocol/errors.ts';
import {
  SYSTEM_TOOLS,
  findOnPath,
  installCommand,
  provisioningPlan,
  toolForCommand,
  type SystemTool,
} from '../../testnet/system-tools.ts';
import { requireTool } from '../../testnet/tools.ts';
import { SOURCE_EXTENSIONS } from '../support/imports.ts';

/** Functions whose first argument names a program to start. */
const STARTERS = new Set(['requireTool', 'execFile', 'execFileSync', 'spawn', 'spawnSync']);
/** Functions whose first argument is a shell command line: its first word is the program. */
const SHELL_STARTERS = new Set(['exec', 'execSync']);
/** Node and npm start themselves; `sh` is everywhere a shell is. */
const NOT_SYSTEM_TOOLS = new Set(['node', 'npm', 'npx', 'sh']);

/** Names a module's `node:child_process` import is bound to as a whole (`import * as cp`), per file. */
let childProcessNames = new Set<string>();

function calleeName(node: ts.Expression): string | undefined {
  if (ts.isIdentifier(node)) return node.text;
  // `cp.spawn(…)` starts a program; `db.exec(…)` (SQLite) does not.
  if (ts.isPropertyAccessExpression(node)) {
    const owner = node.expression;
    return ts.isIdentifier(owner) && !childProcessNames.has(owner.text) ? undefined : node.name.text;
  }
  return undefined;
}

function childProcessBindings(source: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    if (!/^(node:)?child_process$/.test(statement.moduleSpecifier.text)) continue;
    const clause = statement.importClause;
    if (clause?.name) names.add(clause.name.text);
    if (clause?.namedBindings && ts.isNamespaceImport(clause.namedBindings)) names.add(clause.namedBindings.name.text);
  }
  return names;
}

/** The starter a value stands for: `execFile`, or `promisify(execFile)`. */
function starterOf(node: ts.Expression | undefined, shell: Set<string>, direct: Set<string>): 'direct' | 'shell' | undefined {
  if (!node) return undefined;
  if (ts.isCallExpression(node) && calleeName(node.expression) === 'promisify') return starterOf(node.arguments[0], shell, direct);
  const name = calleeName(node);
  if (name === undefined) return undefined;
  if (direct.has(name)) return 'direct';
  if (shell.has(name)) return 'shell';
  return undefined;
}

function literal(node: ts.Node | undefined): string | undefined {
  return node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) ? node.text : undefined;
}

/**
 * The programs `text` starts by a name written in it: `requireTool('x')`,
 * `execFile('x', …)` and its kin (also through `promisify`), the first word of
 * `exec('x …')`, and `executablePath: '/usr/bin/x'`. A program named at run
 * time (`process.execPath`, a variable) is not a system tool by name.
 */
function programsStarted(path: string, text: string): string[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, false);
  childProcessNames = childProcessBindings(source);
  const direct = new Set(STARTERS);
  const shell = new Set(SHELL_STARTERS);
  const found: string[] = [];
  const add = (program: string | undefined): void => {
    if (program === undefined) return;
    const name = basename(program.trim().split(/\s+/)[0]!);
    if (name && !NOT_SYSTEM_TOOLS.has(name)) found.push(name);
  };

  // `const run = promisify(execFile)` makes `run('x')` start x.
  const findAliases = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name)) {
      const kind = starterOf(node.initializer, shell, direct);
      if (kind === 'direct') direct.add(node.name.text);
      if (kind === 'shell') shell.add(node.name.text);
    }
    ts.forEachChild(node, findAliases);
  };
  findAliases(source);

  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const kind = starterOf(node.expression, shell, direct);
      if (kind === 'direct') add(literal(node.arguments[0]));
      if (kind === 'shell') add(literal(node.arguments[0]));
    } else if (ts.isPropertyAssignment(node) && ts.isIdentifier(node.name) && node.name.text === 'executablePath') {
      add(literal(node.initializer));
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Each program the sources start that `tools` does not list, as "file: program". */
function unlisted(files: ReadonlyMap<string, string>, tools: readonly SystemTool[]): string[] {
  const out = new Set<string>();
  for (const [file, text] of files) {
    for (const program of programsStarted(file, text)) {
      if (!toolForCommand(program, tools)) out.add(`${file}: ${program}`);
    }
  }
  return [...out].sort();
}

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
/** Where the tests, their harness and the benchmarks live. */
const SCANNED = ['test', 'testnet', 'bench'];

async function sourcesUnder(dir: string, out = new Map<string, string>()): Promise<Map<string, string>> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await sourcesUnder(path, out);
    else if (SOURCE_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) out.set(relative(ROOT, path), await readFile(path, 'utf8'));
  }
  return out;
}

describe('programsStarted', () => {
  it('finds every way a source names a program to start', () => {
    const text = [
      "import { execFile, execFileSync, execSync, spawn } from 'node:child_process';",
      "import * as child from 'node:child_process';",
      "const path = await requireTool('transmission-cli');",
      "execFileSync('sqlite3', [db]);",
      "spawn('/usr/sbin/nft', ['list']);",
      "child.spawnSync('initdb', []);",
      'const run = promisify(execFile);',
      "await run('pg_ctl', ['start']);",
      "await promisify(execFile)('ip', ['netns']);",
      "execSync('tar -xf archive.tar');",
      "await launch({ executablePath: '/usr/bin/google-chrome' });",
      // Not system tools by name: node itself, npm, a shell, a program chosen at run time.
      'spawn(process.execPath, [script]);',
      "execFileSync('npx', ['wxt', 'build']);",
      "spawn('node', ['-e', '']);",
      "execFile('sh', ['-c', 'true']);",
      "execFile(found, ['--version']);",
      "const executablePath = '/not/a/property';",
      // A method of another object that shares a starter's name: SQLite's exec runs SQL.
      "db.exec('CREATE TABLE t (x)');",
    ].join('\n');
    expect(programsStarted('x.ts', text)).toEqual(['transmission-cli', 'sqlite3', 'nft', 'initdb', 'pg_ctl', 'ip', 'tar', 'google-chrome']);
  });

  it('flags a program the list lacks, and passes once it is listed', () => {
    const files = new Map([['test/x.test.ts', "await requireTool('chromium');\nexecFileSync('sqlite3', []);"]]);
    const tools = SYSTEM_TOOLS.filter((tool) => tool.command === 'chromium');
    expect(unlisted(files, tools)).toEqual(['test/x.test.ts: sqlite3']);
    expect(unlisted(files, [...tools, { command: 'sqlite3', debianPackage: 'sqlite3', why: 'test' }])).toEqual([]);
  });
});

describe('the list of system tools', () => {
  let files: Map<string, string>;
  beforeAll(async () => {
    files = new Map();
    for (const dir of SCANNED) await sourcesUnder(join(ROOT, dir), files);
  });

  it('names every program the tests, their harness and the benchmarks start', () => {
    const started = [...files].flatMap(([file, text]) => programsStarted(file, text));
    // The scan must see programs at all, or the check below would pass by seeing nothing.
    expect(started.length).toBeGreaterThan(0);
    expect(unlisted(files, SYSTEM_TOOLS)).toEqual([]);
  });

  it('gives each entry one thing to look for, a Debian package and a reason, each command once', () => {
    for (const tool of SYSTEM_TOOLS) {
      expect((tool.command === undefined) !== (tool.file === undefined), JSON.stringify(tool)).toBe(true);
      expect(tool.debianPackage).toMatch(/^[a-z0-9][a-z0-9+.-]+$/);
      expect(tool.why.length).toBeGreaterThan(0);
    }
    const commands = SYSTEM_TOOLS.flatMap((tool) => (tool.command ? [tool.command] : []));
    expect(new Set(commands).size).toBe(commands.length);
  });

  it('is what the README lists', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const section = /^## What the tests take from the system\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
    for (const tool of SYSTEM_TOOLS) expect(section).toContain(`\`${tool.debianPackage}\``);
  });
});

describe('provisioningPlan', () => {
  const tool = (command: string, debianPackage: string): SystemTool => ({ command, debianPackage, why: 'test' });
  const missing = [tool('aria2c', 'aria2'), tool('clang-14', 'clang-14'), tool('wasm-ld-14', 'lld-14'), tool('clang', 'clang-14')];

  it('does nothing when nothing is missing', () => {
    expect(provisioningPlan([], true, true)).toEqual({ action: 'none' });
    expect(provisioningPlan([], false, false)).toEqual({ action: 'none' });
  });

  it('installs each missing package once as root with apt-get', () => {
    expect(provisioningPlan(missing, true, true)).toEqual({ action: 'install', packages: ['aria2', 'clang-14', 'lld-14'] });
  });

  it('otherwise gives the exact command to run, with sudo unless root', () => {
    expect(provisioningPlan(missing, false, true)).toEqual({ action: 'instruct', command: 'sudo apt-get install -y aria2 clang-14 lld-14' });
    expect(provisioningPlan(missing, true, false)).toEqual({ action: 'instruct', command: 'apt-get install -y aria2 clang-14 lld-14' });
    expect(installCommand([tool('aria2c', 'aria2')], false)).toBe('sudo apt-get install -y aria2');
  });
});

describe('requireTool', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sparecycles-tools-'));
    await writeFile(join(dir, 'aria2c'), '#!/bin/sh\n');
    await chmod(join(dir, 'aria2c'), 0o755);
    await writeFile(join(dir, 'chromium'), 'not executable');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds an executable on the PATH it is given, and passes over one that is not executable', async () => {
    expect(await requireTool('aria2c', dir)).toBe(join(dir, 'aria2c'));
    expect(findOnPath('chromium', dir)).toBeUndefined();
  });

  it('names the Debian package of a missing tool, which may differ from the command', async () => {
    const error = await requireTool('aria2c', join(dir, 'empty')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpareCyclesError);
    expect(error).toMatchObject({ code: 'NOT_FOUND' });
    expect((error as Error).message).toMatch(/apt-get install -y aria2 \(/);
  });

  it('refuses a tool the list lacks, so that npm test learns to install it', async () => {
    // Named through a variable: it is refused before anything starts, so the scan above rightly passes it over.
    const unlistedTool = 'transmission-cli';
    const error = await requireTool(unlistedTool, dir).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'NOT_FOUND' });
    expect((error as Error).message).toContain('testnet/system-tools.ts');
  });
});
