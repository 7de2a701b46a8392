// Turns a task's module bytes into something a unit thread can run, refusing
// anything the manifest does not vouch for or the unit ABI does not allow.
// Workers do this once per task, before the first unit.

import type { CryptoBackend } from './crypto/backend.ts';
import { UnitAbiError } from './errors.ts';
import { checkFile } from './manifest.ts';
import type { ManifestBody } from './manifest.ts';
import type { MemoryPlan } from './unit.ts';
import { checkUnitAbi, inspectModule } from './wasm.ts';

export interface PreparedModule {
  module: WebAssembly.Module;
  memory: MemoryPlan;
}

export async function prepareUnitModule(
  backend: CryptoBackend,
  manifest: ManifestBody,
  bytes: Uint8Array,
): Promise<PreparedModule> {
  checkFile(backend, manifest.module, bytes);
  const plan = checkUnitAbi(inspectModule(bytes), manifest.limits.memoryPages);
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (cause) {
    throw new UnitAbiError(`module does not compile: ${(cause as Error).message}`, { field: 'module', cause });
  }
  return { module, memory: { minPages: plan.memoryMinPages, maxPages: plan.memoryMaxPages } };
}
