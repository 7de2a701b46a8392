// One error family: every code in the constants table rebuilds into a typed
// error, and no class in shipped code extends a built-in error except the
// protocol's own SpareCyclesError.

import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../protocol/constants.ts';
import { fromErrorRecord, isErrorCode, MintError, NetworkError, SpareCyclesError, TimeoutError, toErrorRecord } from '../../protocol/errors.ts';

const ROOT = resolve(import.meta.dirname, '../..');
/** Every folder of shipped code (test/ and the task examples are not shipped). */
const SHIPPED = ['protocol', 'units', 'net', 'serve', 'store', 'tasker', 'worker', 'relay', 'tracker', 'mint', 'cli', 'extension', 'testnet', 'bench', 'bin', 'scripts'];
const SKIP = new Set(['node_modules', '.output', '.wxt']);
const BUILT_IN_ERRORS = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError', 'URIError', 'AggregateError']);

async function sourcesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    if (SKIP.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await sourcesUnder(path)));
    else if (/\.[mc]?[jt]sx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) files.push(path);
  }
  return files;
}

/** `file: Class extends Base` for every class whose base is a built-in error. */
function builtInSubclasses(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isClassDeclaration(node) || ts.isClassExpression(node)) {
      for (const clause of node.heritageClauses ?? []) {
        if (clause.token !== ts.SyntaxKind.ExtendsKeyword) continue;
        for (const type of clause.types) {
          const base = type.expression.getText(source);
          if (BUILT_IN_ERRORS.has(base)) found.push(`${file}: ${node.name?.text ?? '(anonymous)'} extends ${base}`);
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** `file: new Base(` for every built-in error the code constructs itself. */
function builtInConstructions(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isNewExpression(node) || ts.isCallExpression(node)) {
      const callee = node.expression.getText(source);
      // `Error(...)` without new builds one too.
      if (BUILT_IN_ERRORS.has(callee) && (ts.isNewExpression(node) || callee !== 'AggregateError')) found.push(`${file}: ${callee}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('the error family', () => {
  it('rebuilds every code of the constants table into a typed error with its message and field', () => {
    for (const code of ERROR_CODES) {
      expect(isErrorCode(code), code).toBe(true);
      const rebuilt = fromErrorRecord({ code, message: `a ${code}`, field: 'f' });
      expect(rebuilt, code).toBeInstanceOf(SpareCyclesError);
      expect(toErrorRecord(rebuilt), code).toEqual({ code, message: `a ${code}`, field: 'f' });
    }
    expect(fromErrorRecord({ code: 'NETWORK', message: 'gone' })).toBeInstanceOf(NetworkError);
    expect(fromErrorRecord({ code: 'TIMEOUT', message: 'late' })).toBeInstanceOf(TimeoutError);
    expect(fromErrorRecord({ code: 'FUNDS', message: 'short' })).not.toBeInstanceOf(MintError);
    for (const stranger of ['', 'nope', 'toString', 'constructor', 7, undefined]) expect(isErrorCode(stranger)).toBe(false);
  });

  it('keeps the HTTP status on a network error', () => {
    expect(new NetworkError('502 from the proxy', { status: 502 })).toMatchObject({ code: 'NETWORK', status: 502 });
    expect(new NetworkError('refused').status).toBeUndefined();
  });

  it('has no class in shipped code that extends a built-in error other than SpareCyclesError', async () => {
    const offenders: string[] = [];
    let scanned = 0;
    for (const folder of SHIPPED) {
      for (const path of await sourcesUnder(join(ROOT, folder))) {
        scanned++;
        offenders.push(...builtInSubclasses(relative(ROOT, path), await readFile(path, 'utf8')));
      }
    }
    // The scan saw the tree (and so would see a new offender).
    expect(scanned).toBeGreaterThan(100);
    expect(offenders).toEqual(['protocol/errors.ts: SpareCyclesError extends Error']);
  });

  it('throws no built-in error from shipped code: every error carries a code', async () => {
    const offenders: string[] = [];
    let scanned = 0;
    for (const folder of SHIPPED) {
      for (const path of await sourcesUnder(join(ROOT, folder))) {
        scanned++;
        offenders.push(...builtInConstructions(relative(ROOT, path), await readFile(path, 'utf8')));
      }
    }
    expect(scanned).toBeGreaterThan(100);
    expect(offenders).toEqual([]);
  });

  it('sees a built-in error being made', () => {
    expect(builtInConstructions('x.ts', "throw new RangeError('r');\nconst e = Error('e');\nnew SpareCyclesError('USAGE', 'u');")).toEqual([
      'x.ts: RangeError',
      'x.ts: Error',
    ]);
  });

  it('sees a class that extends a built-in error', () => {
    expect(builtInSubclasses('x.ts', 'export class Oops extends Error {}\nconst Y = class extends RangeError {};')).toEqual([
      'x.ts: Oops extends Error',
      'x.ts: (anonymous) extends RangeError',
    ]);
  });
});
