// Reads a task folder (task.json, unit.wasm, inputs) into a manifest body and
// the files it names. task.json is for people: fractions, relative deadlines,
// file paths. The manifest is for the wire: parts per million, unix seconds,
// hashes. Every field is checked here with the wire's own rules.

import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { SchemaError } from '../protocol/errors.ts';
import { LIMITS } from '../protocol/constants.ts';
import { MANIFEST_VERSION, ppmFromFraction, validateManifestBody } from '../protocol/manifest.ts';
import type { FileRef, ManifestBody } from '../protocol/manifest.ts';

export interface TaskDir {
  dir: string;
  body: ManifestBody;
  /** Every file the manifest names, by its manifest path. */
  files: Map<string, Uint8Array>;
}

type Json = Record<string, unknown>;

const TASK_JSON_FIELDS = new Set([
  'version',
  'name',
  'description',
  'module',
  'units',
  'input',
  'inputs',
  'pricePerUnit',
  'mode',
  'deadline',
  'limits',
  'verification',
  'merge',
  'mint',
]);

function field<T>(json: Json, name: string, check: (v: unknown) => v is T, expected: string, fallback?: T): T {
  const value = json[name];
  if (value === undefined && fallback !== undefined) return fallback;
  if (!check(value)) {
    throw new SchemaError(`task.json: ${name}: expected ${expected}, got ${JSON.stringify(value)}`, { field: name });
  }
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

/** "+24h", "+30m", "+2d", an ISO date, or unix seconds. */
export function parseDeadline(value: unknown, nowSeconds: number): number {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string') {
    const relative = /^\+(\d+)([smhd])$/.exec(value);
    if (relative) {
      const unit = { s: 1, m: 60, h: 3600, d: 86400 }[relative[2] as 's' | 'm' | 'h' | 'd'];
      return nowSeconds + Number(relative[1]) * unit;
    }
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return Math.floor(ms / 1000);
  }
  throw new SchemaError(`task.json: deadline: expected "+24h", an ISO date or unix seconds, got ${JSON.stringify(value)}`, {
    field: 'deadline',
  });
}

export async function loadTaskDir(
  backend: CryptoBackend,
  dir: string,
  options: { tasker?: Uint8Array; nowSeconds?: number } = {},
): Promise<TaskDir> {
  const root = resolve(dir);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(join(root, 'task.json'), 'utf8'));
  } catch (cause) {
    throw new SchemaError(`task.json in ${dir} is missing or not JSON: ${(cause as Error).message}`, {
      field: 'task.json',
      cause,
    });
  }
  if (!isObject(json)) throw new SchemaError('task.json: expected an object', { field: 'task.json' });
  for (const key of Object.keys(json)) {
    // A misspelt field would otherwise fall back to its default without a word.
    if (!TASK_JSON_FIELDS.has(key)) {
      throw new SchemaError(`task.json: unknown field ${JSON.stringify(key)}`, { field: key });
    }
  }
  if (json.version !== undefined && json.version !== 1) {
    throw new SchemaError(`task.json: version: expected 1, got ${JSON.stringify(json.version)}`, { field: 'version' });
  }
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const files = new Map<string, Uint8Array>();
  const ref = async (path: string, name: string): Promise<FileRef> => {
    let content: Uint8Array;
    try {
      content = new Uint8Array(await readFile(join(root, path)));
    } catch (cause) {
      throw new SchemaError(`task.json: ${name}: cannot read ${path}`, { field: name, cause });
    }
    files.set(path, content);
    return { path, sha256: backend.sha256(content), size: content.length };
  };

  const limits = field(json, 'limits', isObject, 'an object', {});
  const verification = field(json, 'verification', isObject, 'an object', {});
  const merge = field(json, 'merge', isObject, 'an object', { kind: 'concat' });
  const inputs = json.inputs === undefined ? undefined : field(json, 'inputs', isStringList, 'a list of paths');
  const units = field(json, 'units', isNumber, 'a number', inputs?.length);

  const body: ManifestBody = {
    t: 'manifest',
    v: MANIFEST_VERSION,
    name: field(json, 'name', isString, 'a name'),
    description: json.description === undefined ? undefined : field(json, 'description', isString, 'text'),
    module: await ref(field(json, 'module', isString, 'a path', 'unit.wasm'), 'module'),
    units,
    input: json.input === undefined ? undefined : await ref(field(json, 'input', isString, 'a path'), 'input'),
    inputs: inputs && (await Promise.all(inputs.map((p, i) => ref(p, `inputs[${i}]`)))),
    price: field(json, 'pricePerUnit', isNumber, 'a number of credits', 0),
    mode: field(json, 'mode', isString, '"immediate" or "batch"', 'immediate') as ManifestBody['mode'],
    deadline: parseDeadline(json.deadline ?? '+24h', now),
    limits: {
      memoryPages: field(limits, 'memoryPages', isNumber, 'a page count', 256),
      unitTimeMs: field(limits, 'unitTimeMs', isNumber, 'milliseconds', 60_000),
      outputBytes: field(limits, 'outputBytes', isNumber, 'bytes', 16 * 1024 * 1024),
    },
    verify: {
      replication: field(verification, 'replication', isNumber, 'a count', 2),
      canaryPpm: ppmFromFraction(field(verification, 'canaryRate', isNumber, 'a fraction', 0.05), 'canaryRate'),
      samplePpm: ppmFromFraction(field(verification, 'sampleRate', isNumber, 'a fraction', 0.02), 'sampleRate'),
      minUnitMs: field(verification, 'minUnitMs', isNumber, 'milliseconds', 0),
    },
    merge: {
      kind: field(merge, 'kind', isString, '"concat" or "png"') as ManifestBody['merge']['kind'],
      width: merge.width === undefined ? undefined : field(merge, 'width', isNumber, 'pixels'),
      height: merge.height === undefined ? undefined : field(merge, 'height', isNumber, 'pixels'),
      channels: merge.channels === undefined ? undefined : field(merge, 'channels', isNumber, '1 to 4'),
    },
    mint: json.mint === undefined ? undefined : field(json, 'mint', isString, 'a URL'),
    tasker: options.tasker ?? new Uint8Array(32),
    created: now,
  };
  if (body.units > LIMITS.unitsPerTask) {
    throw new SchemaError(`task.json: units: expected at most ${LIMITS.unitsPerTask}, got ${body.units}`, { field: 'units' });
  }
  return { dir: root, body: validateManifestBody(body), files };
}
