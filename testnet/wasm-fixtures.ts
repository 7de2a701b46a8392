// Compiles the WAT fixtures in test/fixtures/wasm at test time, so the repo
// holds readable sources rather than opaque binaries. Test-only: uses node:fs.

import { readFile } from 'node:fs/promises';
import wabtInit from 'wabt';
import { UsageError } from '../protocol/errors.ts';

type Wabt = Awaited<ReturnType<typeof wabtInit>>;
type Features = Parameters<Wabt['parseWat']>[2];

let wabt: Promise<Wabt> | undefined;

/** Compiles WebAssembly text to a validated binary. `features` enables post-MVP syntax such as `shared`. */
export async function compileWat(text: string, features: Features = {}, filename = 'inline.wat'): Promise<Uint8Array> {
  wabt ??= wabtInit();
  const module = (await wabt).parseWat(filename, text, features);
  try {
    module.resolveNames();
    // A typo in a fixture should fail loudly here, not as a puzzling test
    // result. validate() takes the features too; wabt's typings omit that.
    (module as unknown as { validate(features: Features): void }).validate(features);
    const { buffer } = module.toBinary({});
    return new Uint8Array(buffer); // a copy: wabt's buffer may be a view into its own heap
  } finally {
    module.destroy();
  }
}

/** Compiles test/fixtures/wasm/<name>.wat. */
export async function compileFixture(name: string): Promise<Uint8Array> {
  if (!/^[a-z0-9-]+$/.test(name)) throw new UsageError(`expected a fixture name like "echo", got ${JSON.stringify(name)}`);
  const url = new URL(`../test/fixtures/wasm/${name}.wat`, import.meta.url);
  return compileWat(await readFile(url, 'utf8'), {}, `${name}.wat`);
}
