// Runs one unit of a task under the unit ABI (docs/unit-abi.md). Pure and
// platform-neutral: the Node worker thread and the extension's Web Worker both
// call `runUnit`, and both kill their thread from outside when the time limit
// passes, since a Wasm loop cannot be interrupted from within.

import { UnitAbiError, UnitMemoryError, UnitTrapError } from './errors.ts';

export const UNIT_ABI_VERSION = 1;
const PAGE = 65536;

export interface MemoryPlan {
  /** Pages the module asks for at start. */
  minPages: number;
  /** Pages it may grow to: the smaller of its own maximum and the manifest's limit. */
  maxPages: number;
}

export interface UnitRequest {
  unit: number;
  input: Uint8Array;
  memory: MemoryPlan;
  maxOutputBytes: number;
}

type AbiExports = {
  sc_abi_version: () => number;
  sc_input: (len: number) => number;
  sc_run: (unit: number, len: number) => number;
  sc_output: () => number;
};

function abiExports(instance: WebAssembly.Instance): AbiExports {
  const exports = instance.exports as Record<string, unknown>;
  for (const name of ['sc_abi_version', 'sc_input', 'sc_run', 'sc_output'] as const) {
    if (typeof exports[name] !== 'function') {
      throw new UnitAbiError(`expected an exported function ${name}`, { field: name });
    }
  }
  return exports as unknown as AbiExports;
}

/** Runs one unit to completion and returns a copy of its output. Throws a UnitError subclass. */
export function runUnit(module: WebAssembly.Module, request: UnitRequest): Uint8Array {
  const { unit, input, memory: plan, maxOutputBytes } = request;
  const memory = new WebAssembly.Memory({ initial: plan.minPages, maximum: plan.maxPages });
  const startPages = plan.minPages;
  const nearLimit = () => {
    const pages = memory.buffer.byteLength / PAGE;
    return pages > startPages && plan.maxPages - pages < plan.maxPages / 2;
  };
  let api: AbiExports;
  try {
    api = abiExports(new WebAssembly.Instance(module, { env: { memory } }));
  } catch (cause) {
    if (cause instanceof UnitAbiError) throw cause;
    if (cause instanceof WebAssembly.LinkError) {
      throw new UnitAbiError(`module does not link against the unit ABI: ${(cause as Error).message}`, { cause });
    }
    throw classifyTrap(cause, nearLimit(), 'start');
  }
  try {
    const version = api.sc_abi_version();
    if (version !== UNIT_ABI_VERSION) {
      throw new UnitAbiError(`expected unit ABI version ${UNIT_ABI_VERSION}, got ${version}`, {
        field: 'sc_abi_version',
      });
    }
    const inputPtr = api.sc_input(input.length) >>> 0;
    if (inputPtr === 0 && input.length > 0) {
      throw new UnitAbiError(`module cannot hold an input of ${input.length} bytes`, { field: 'sc_input' });
    }
    checkRange(memory, inputPtr, input.length, 'sc_input');
    new Uint8Array(memory.buffer, inputPtr, input.length).set(input);
    const length = api.sc_run(unit, input.length);
    if (length < 0) {
      throw new UnitTrapError(`unit ${unit} failed with code ${length}`, { field: 'sc_run' });
    }
    if (length > maxOutputBytes) {
      throw new UnitAbiError(`expected at most ${maxOutputBytes} output bytes, got ${length}`, { field: 'sc_run' });
    }
    const outputPtr = api.sc_output() >>> 0;
    checkRange(memory, outputPtr, length, 'sc_output');
    return new Uint8Array(memory.buffer, outputPtr, length).slice();
  } catch (cause) {
    if (cause instanceof UnitAbiError || cause instanceof UnitTrapError) throw cause;
    throw classifyTrap(cause, nearLimit(), `unit ${unit}`);
  }
}

function checkRange(memory: WebAssembly.Memory, ptr: number, length: number, field: string): void {
  if (ptr + length > memory.buffer.byteLength) {
    throw new UnitAbiError(
      `expected ${length} bytes at ${ptr} inside memory of ${memory.buffer.byteLength} bytes`,
      { field },
    );
  }
}

/**
 * A module that hits its memory ceiling sees memory.grow fail and usually traps
 * soon after. The host cannot see the failed grow itself, so a trap after the
 * unit grew its memory past half the limit is reported as a memory error: it
 * tells the tasker the limit is too small (or the unit hostile).
 */
function classifyTrap(cause: unknown, memoryNearLimit: boolean, where: string): Error {
  const message = cause instanceof Error ? cause.message : String(cause);
  if (memoryNearLimit) return new UnitMemoryError(`${where} trapped at its memory limit: ${message}`, { cause });
  if (cause instanceof WebAssembly.RuntimeError) return new UnitTrapError(`${where} trapped: ${message}`, { cause });
  if (cause instanceof RangeError) {
    // V8 reports stack exhaustion and failed allocations as RangeError.
    return new UnitTrapError(`${where} exhausted a resource: ${message}`, { cause });
  }
  return new UnitTrapError(`${where} failed: ${message}`, { cause });
}
