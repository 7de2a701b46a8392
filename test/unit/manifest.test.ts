import { mkdtemp, readFile, rm, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../../protocol/bencode.ts';
import { fromHex, toHex } from '../../protocol/bytes.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { naclCrypto } from '../../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { DecodeError, SchemaError, SignatureError } from '../../protocol/errors.ts';
import {
  checkFile,
  encodeManifest,
  openManifest,
  signManifest,
  unitInputRef,
  validateManifestBody,
} from '../../protocol/manifest.ts';
import type { Manifest, ManifestBody } from '../../protocol/manifest.ts';
import { loadTaskDir, parseDeadline } from '../../tasker/task-dir.ts';
import vectors from '../vectors/manifest.json' with { type: 'json' };

const EXAMPLE = new URL('../../examples/mandelbrot', import.meta.url).pathname;
const seed = fromHex(vectors.seed);

async function exampleBody(): Promise<ManifestBody> {
  const identity = Identity.fromSeed(nodeCrypto, seed);
  return (await loadTaskDir(nodeCrypto, EXAMPLE, { tasker: identity.publicKey, nowSeconds: vectors.created })).body;
}

describe.each([nodeCrypto, naclCrypto, nobleCrypto])('manifest with the $name backend', (backend) => {
  it('matches the vector byte for byte and opens', async () => {
    const manifest = signManifest(backend, seed, await exampleBody());
    expect(toHex(encodeManifest(manifest))).toBe(vectors.bytes);
    const opened = openManifest(backend, fromHex(vectors.bytes));
    expect(toHex(opened.sig)).toBe(vectors.sig);
    expect(opened.units).toBe(32);
    expect(opened.deadline).toBe(vectors.created + 24 * 3600);
    // The key workers open the task wire's handshake to: the one the tasker's seed yields.
    expect(opened.v).toBe(2);
    expect(toHex(opened.noise)).toBe(vectors.noise);
    expect(toHex(opened.noise)).toBe(toHex(Identity.fromSeed(backend, seed).noise.publicKey));
  });

  it('refuses a manifest whose Noise key was changed after signing', () => {
    const opened = openManifest(backend, fromHex(vectors.bytes));
    const swapped: Manifest = { ...opened, noise: Identity.generate(backend).noise.publicKey };
    expect(() => openManifest(backend, encodeManifest(swapped))).toThrow(SignatureError);
  });

  it('refuses a manifest changed after signing', () => {
    const opened = openManifest(backend, fromHex(vectors.bytes));
    const raised: Manifest = { ...opened, price: opened.price + 1 };
    expect(() => openManifest(backend, encodeManifest(raised))).toThrow(SignatureError);
  });

  it('refuses a manifest signed by someone other than its tasker', async () => {
    const body = await exampleBody();
    const forged = signManifest(backend, new Uint8Array(32).fill(9), body); // body still names seed 07's key
    expect(() => openManifest(backend, encodeManifest(forged))).toThrow(SignatureError);
  });

  it('refuses a broken signature', () => {
    const bytes = fromHex(vectors.bytes);
    const at = vectors.bytes.indexOf(vectors.sig) / 2;
    expect(at).toBeGreaterThan(0);
    bytes[at + 10]! ^= 0x40;
    expect(() => openManifest(backend, bytes)).toThrow(SignatureError);
  });
});

describe('manifest validation', () => {
  const outOfRange: Array<[string, (b: ManifestBody) => ManifestBody, string]> = [
    ['no units', (b) => ({ ...b, units: 0 }), 'manifest.units'],
    ['replication 9', (b) => ({ ...b, verify: { ...b.verify, replication: 9 } }), 'manifest.verify.replication'],
    ['canaries over half', (b) => ({ ...b, verify: { ...b.verify, canaryPpm: 600_000 } }), 'manifest.verify.canaryPpm'],
    ['a path out of the folder', (b) => ({ ...b, module: { ...b.module, path: '../unit.wasm' } }), 'manifest.module.path'],
    ['an absolute path', (b) => ({ ...b, module: { ...b.module, path: '/etc/passwd' } }), 'manifest.module.path'],
    ['a short hash', (b) => ({ ...b, module: { ...b.module, sha256: new Uint8Array(31) } }), 'manifest.module.sha256'],
    ['a huge memory', (b) => ({ ...b, limits: { ...b.limits, memoryPages: 70_000 } }), 'manifest.limits.memoryPages'],
    ['an unknown merge', (b) => ({ ...b, merge: { kind: 'zip' as 'png' } }), 'manifest.merge.kind'],
    ['a png with no size', (b) => ({ ...b, merge: { kind: 'png' } }), 'manifest.merge'],
    ['a deadline in the past', (b) => ({ ...b, deadline: b.created - 1 }), 'manifest.deadline'],
    ['inputs of the wrong count', (b) => ({ ...b, input: undefined, inputs: [b.module] }), 'manifest.inputs'],
    ['a fractional price', (b) => ({ ...b, price: 1.5 }), 'manifest'],
    ['a non-http mint', (b) => ({ ...b, mint: 'file:///x' }), 'manifest.mint'],
  ];
  it.each(outOfRange)('refuses %s', async (_, change, field) => {
    const body = change(await exampleBody());
    const error = (() => {
      try {
        validateManifestBody(body);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(SchemaError);
    expect((error as SchemaError).field).toBe(field);
  });

  it('refuses an unknown field, so nothing signed can be dropped', () => {
    const raw = openManifest(nodeCrypto, fromHex(vectors.bytes));
    const extra = encode({ ...(raw as unknown as Record<string, Uint8Array>), zzz: 1 } as never);
    expect(() => openManifest(nodeCrypto, extra)).toThrow(SchemaError);
  });

  it('refuses an oversized manifest before parsing it', () => {
    expect(() => openManifest(nodeCrypto, new Uint8Array(300 * 1024))).toThrow(DecodeError);
  });

  it('checks files against their hashes', async () => {
    const body = await exampleBody();
    const wasm = new Uint8Array(await readFile(join(EXAMPLE, 'unit.wasm')));
    expect(() => checkFile(nodeCrypto, body.module, wasm)).not.toThrow();
    expect(() => checkFile(nodeCrypto, body.module, wasm.subarray(1))).toThrow(/sha256/);
  });

  it('gives each unit its input file', async () => {
    const body = await exampleBody();
    expect(unitInputRef(body, 0)?.path).toBe('params.bin');
    expect(() => unitInputRef(body, 32)).toThrow(SchemaError);
  });

  it('reads relative and absolute deadlines', () => {
    expect(parseDeadline('+2h', 1000)).toBe(1000 + 7200);
    expect(parseDeadline('+3d', 0)).toBe(3 * 86400);
    expect(parseDeadline('2030-01-01T00:00:00Z', 0)).toBe(1893456000);
    expect(parseDeadline(1234, 0)).toBe(1234);
    expect(() => parseDeadline('soon', 0)).toThrow(SchemaError);
  });
});

describe('task.json', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sc-task-json-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function taskWith(change: (json: Record<string, unknown>) => void): Promise<string> {
    const task = await mkdtemp(join(dir, 't-'));
    await cp(EXAMPLE, task, { recursive: true });
    const json = JSON.parse(await readFile(join(task, 'task.json'), 'utf8'));
    change(json);
    await writeFile(join(task, 'task.json'), JSON.stringify(json));
    return task;
  }

  it('names the field that is wrong', async () => {
    const cases: Array<[(j: Record<string, unknown>) => void, string]> = [
      [(j) => (j.units = 'many'), 'units'],
      [(j) => (j.module = 'missing.wasm'), 'module'],
      [(j) => (j.verification = { canaryRate: 2 }), 'canaryRate'],
      [(j) => (j.limits = { unitTimeMs: -1 }), 'manifest.limits.unitTimeMs'],
      [(j) => delete j.name, 'name'],
      [(j) => (j.replicaton = 3), 'replicaton'],
    ];
    for (const [change, field] of cases) {
      const error = await loadTaskDir(nodeCrypto, await taskWith(change)).catch((e: unknown) => e);
      expect(error, field).toBeInstanceOf(SchemaError);
      expect((error as SchemaError).field, field).toBe(field);
    }
  });
});
