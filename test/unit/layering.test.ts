// protocol/ must run unchanged in the browser and depend on nothing else in
// the repo: these rules are what keep that true as the code grows.

import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const PROTOCOL = join(ROOT, 'protocol');
/** The only protocol file allowed to use Node built-ins: the server crypto backend. */
const NODE_ONLY = new Set(['protocol/crypto/node.ts']);
const PACKAGES = [/^tweetnacl$/, /^@noble\/(hashes|curves)\//];

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

function importsOf(text: string): string[] {
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

describe('protocol/ layering', () => {
  it('imports only itself, its crypto packages, and Node only in the Node backend', async () => {
    const files = await sources(PROTOCOL);
    expect(files.length).toBeGreaterThan(10);
    const violations: string[] = [];
    for (const file of files) {
      const name = relative(ROOT, file);
      for (const spec of importsOf(await readFile(file, 'utf8'))) {
        if (spec.startsWith('.')) {
          const target = resolve(file, '..', spec);
          if (!target.startsWith(PROTOCOL + '/')) violations.push(`${name} imports ${spec}, outside protocol/`);
        } else if (spec.startsWith('node:')) {
          if (!NODE_ONLY.has(name)) violations.push(`${name} imports ${spec}`);
        } else if (!PACKAGES.some((p) => p.test(spec))) {
          violations.push(`${name} imports the package ${spec}`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('has no file that imports the Node backend', async () => {
    const files = await sources(PROTOCOL);
    const importers = [];
    for (const file of files) {
      if (importsOf(await readFile(file, 'utf8')).some((s) => s.endsWith('crypto/node.ts'))) importers.push(file);
    }
    expect(importers.map((f) => relative(ROOT, f))).toEqual([]);
  });
});
