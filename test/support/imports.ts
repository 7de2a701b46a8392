// Reads what a source file loads, with the TypeScript parser rather than a
// regex, so that every way a module can pull in another one is seen: the
// layering test is only as strong as this list.

import ts from 'typescript';

export type ImportKind =
  | 'import' // `import … from`, `import type … from`
  | 'side-effect' // `import './x.ts'`
  | 're-export' // `export … from`
  | 'dynamic' // `import('…')`
  | 'type' // `typeof import('…')` in a type position
  | 'url' // `new URL('…', import.meta.url)` or `import.meta.resolve('…')` naming a module
  | 'require'; // `require('…')`, `createRequire(import.meta.url)('…')`, `import x = require('…')`

export interface ModuleRef {
  kind: ImportKind;
  /** As written; a template's substitutions read `*`. */
  specifier: string;
  /** The specifier without a bundler query or hash (`./unit-worker.ts?worker` → `./unit-worker.ts`). */
  module: string;
}

/** Source files the reader understands, by how their names end. */
export const SOURCE_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs'];

function scriptKind(path: string): ts.ScriptKind {
  if (path.endsWith('.tsx')) return ts.ScriptKind.TSX;
  if (path.endsWith('.jsx')) return ts.ScriptKind.JSX;
  if (/\.[mc]?js$/.test(path)) return ts.ScriptKind.JS;
  return ts.ScriptKind.TS;
}

/** The text of a string argument whose value can be read without running the code. */
function staticText(node: ts.Node | undefined): string | undefined {
  if (!node) return undefined;
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  // `../tracker/${name}.ts` still names its folder, which is what the layers judge.
  if (ts.isTemplateExpression(node)) return node.head.text + node.templateSpans.map((s) => `*${s.literal.text}`).join('');
  return undefined;
}

function isImportMetaUrl(node: ts.Node | undefined): boolean {
  return (
    !!node &&
    ts.isPropertyAccessExpression(node) &&
    ts.isMetaProperty(node.expression) &&
    node.expression.keywordToken === ts.SyntaxKind.ImportKeyword &&
    node.name.text === 'url'
  );
}

function isImportMetaResolve(node: ts.Node): boolean {
  return (
    ts.isPropertyAccessExpression(node) &&
    ts.isMetaProperty(node.expression) &&
    node.expression.keywordToken === ts.SyntaxKind.ImportKeyword &&
    node.name.text === 'resolve'
  );
}

function isCreateRequireCall(node: ts.Node | undefined): boolean {
  return !!node && ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'createRequire';
}

/** A URL to data (a fixture, a results file, a folder) is a file read, not a module load. */
function namesModule(module: string): boolean {
  return SOURCE_EXTENSIONS.some((ext) => module.endsWith(ext));
}

/**
 * Every module `text` loads whose name can be read statically. A specifier
 * computed at run time (bin/run-ts.mjs runs the file named on its command
 * line) cannot be judged here and is left out.
 */
export function importsOf(path: string, text: string): ModuleRef[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, false, scriptKind(path));
  const out: ModuleRef[] = [];
  const add = (kind: ImportKind, specifier: string | undefined): void => {
    if (specifier === undefined) return;
    const module = specifier.replace(/[?#].*$/, '');
    if (kind === 'url' && !namesModule(module)) return;
    out.push({ kind, specifier, module });
  };

  // `const load = createRequire(import.meta.url)` makes `load('pkg')` a require.
  const requireNames = new Set(['require']);
  const findRequireNames = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && isCreateRequireCall(node.initializer)) {
      requireNames.add(node.name.text);
    }
    ts.forEachChild(node, findRequireNames);
  };
  findRequireNames(source);

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      add(node.importClause ? 'import' : 'side-effect', staticText(node.moduleSpecifier));
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      add('re-export', staticText(node.moduleSpecifier));
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add('require', staticText(node.moduleReference.expression));
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add('type', staticText(node.argument.literal));
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const first = node.arguments[0];
      if (callee.kind === ts.SyntaxKind.ImportKeyword) add('dynamic', staticText(first));
      else if (ts.isIdentifier(callee) && requireNames.has(callee.text)) add('require', staticText(first));
      else if (isCreateRequireCall(callee)) add('require', staticText(first));
      else if (isImportMetaResolve(callee)) add('url', staticText(first));
    } else if (ts.isNewExpression(node)) {
      const args = node.arguments ?? [];
      if (ts.isIdentifier(node.expression) && node.expression.text === 'URL' && isImportMetaUrl(args[1])) {
        add('url', staticText(args[0]));
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}
