// The signed task manifest: what a task is, what it pays and how its results
// are checked and merged. Authored as task.json, signed by the tasker with the
// `manifest` domain, and carried in the task torrent, where every worker checks
// it before it runs a byte of the module.

import { decode, encode } from './bencode.ts';
import type { BInput } from './bencode.ts';
import { equalBytes, toHex } from './bytes.ts';
import { LIMITS } from './constants.ts';
import type { CryptoBackend } from './crypto/backend.ts';
import { noiseStaticPublicKey } from './crypto/identity.ts';
import { signDomain, verifyDomain } from './crypto/sign.ts';
import { HashMismatchError, SchemaError } from './errors.ts';
import { bytes, int, list, literal, oneOf, optional, struct, text } from './schema.ts';
import type { Infer } from './schema.ts';

/** 2 added `noise`, the tasker's Noise static key: version 1 manifests cannot start a task-wire handshake. */
export const MANIFEST_VERSION = 2;
const MAX_SECONDS = 2 ** 40;
const PPM = 1_000_000;

/** A relative path inside the task folder: no "..", no leading slash, portable characters. */
const PATH = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

const fileRef = struct({
  path: text({ min: 1, max: 255, pattern: PATH }),
  sha256: bytes({ length: 32 }),
  size: int(0, 2 ** 40),
});
export type FileRef = Infer<typeof fileRef>;

const draftFields = {
  t: literal('manifest'),
  v: literal(MANIFEST_VERSION),
  name: text({ min: 1, max: 64, pattern: /^[A-Za-z0-9][A-Za-z0-9 ._-]*$/ }),
  description: optional(text({ max: 1024 })),
  module: fileRef,
  units: int(1, LIMITS.unitsPerTask),
  /** One input file every unit receives. */
  input: optional(fileRef),
  /** One input file per unit, in unit order. */
  inputs: optional(list(fileRef, { min: 1, max: 2048 })),
  /** Credits per unit, paid to each worker whose result matches the verified one: replication pays more than once. */
  price: int(0, 2 ** 40),
  mode: oneOf(['immediate', 'batch']),
  /**
   * Unix seconds. Copied into the offer, where relays and workers skip an
   * offer past it; not yet enforced otherwise (the tasker still accepts
   * results after it).
   */
  deadline: int(0, MAX_SECONDS),
  limits: struct({
    memoryPages: int(1, LIMITS.memoryPages),
    unitTimeMs: int(1, LIMITS.unitTimeMs),
    outputBytes: int(1, 64 * 1024 * 1024),
  }),
  /** Rates in parts per million, since bencode has no fractions. */
  verify: struct({
    replication: int(1, 7),
    canaryPpm: int(0, PPM / 2),
    samplePpm: int(0, PPM),
    minUnitMs: int(0, LIMITS.unitTimeMs),
  }),
  merge: struct({
    kind: oneOf(['concat', 'png']),
    width: optional(int(1, 16384)),
    height: optional(int(1, 16384)),
    channels: optional(int(1, 4)),
  }),
  /** The mint that pays for this task's units. */
  mint: optional(text({ max: 256, pattern: /^https?:\/\/[^\s]+$/ })),
  tasker: bytes({ length: 32 }),
  /** Unix seconds when the tasker signed. */
  created: int(0, MAX_SECONDS),
};

const bodyFields = {
  ...draftFields,
  /**
   * The tasker's Noise static X25519 public key: workers open every task
   * wire with a Noise IK handshake to it (protocol/handshake.ts). Derived
   * from the tasker's seed, so signManifest fills it in.
   */
  noise: bytes({ length: 32 }),
};

const draftSchema = struct(draftFields);
const bodySchema = struct(bodyFields);
const signedSchema = struct({ ...bodyFields, sig: bytes({ length: 64 }) });

/** A manifest as its tasker writes it (task.json): everything but what signing adds. */
export type ManifestBody = Infer<typeof draftSchema>;
/** What the signature covers: the body with the tasker's Noise key. */
export type SignedManifestBody = Infer<typeof bodySchema>;
export type Manifest = Infer<typeof signedSchema>;

/** Checks what a schema cannot: fields that must agree with each other. */
function checkConsistency(m: ManifestBody): void {
  const fail = (field: string, message: string): never => {
    throw new SchemaError(`manifest.${field}: ${message}`, { field: `manifest.${field}` });
  };
  if (m.input && m.inputs) fail('inputs', 'expected either input or inputs, got both');
  if (m.inputs && m.inputs.length !== m.units) fail('inputs', `expected ${m.units} inputs, got ${m.inputs.length}`);
  if (m.deadline <= m.created) fail('deadline', `expected a deadline after ${m.created}, got ${m.deadline}`);
  if (m.merge.kind === 'png') {
    const { width, height, channels } = m.merge;
    if (width === undefined || height === undefined || channels === undefined) {
      fail('merge', 'expected width, height and channels for a png merge');
    }
  }
}

/** Validates a manifest body built in memory (from task.json), with the same rules as the wire. */
export function validateManifestBody(body: ManifestBody): ManifestBody {
  let raw: Uint8Array;
  try {
    raw = encode(draftSchema.write(body) as BInput);
  } catch (cause) {
    // Only in-memory values reach here (a fraction where a count belongs, say).
    throw new SchemaError(`manifest: ${(cause as Error).message}`, { field: 'manifest', cause });
  }
  const checked = draftSchema.read(decode(raw, { maxBytes: LIMITS.manifestBytes }), 'manifest');
  checkConsistency(checked);
  return checked;
}

export function manifestSigningBytes(body: SignedManifestBody): Uint8Array {
  return encode(bodySchema.write(body));
}

/** Signs a body with `seed`, adding the Noise static key that seed yields (`noise`) and `sig`. */
export function signManifest(backend: CryptoBackend, seed: Uint8Array, body: ManifestBody): Manifest {
  const checked: SignedManifestBody = { ...validateManifestBody(body), noise: noiseStaticPublicKey(backend, seed) };
  return { ...checked, sig: signDomain(backend, seed, 'manifest', manifestSigningBytes(checked)) };
}

export function encodeManifest(manifest: Manifest): Uint8Array {
  return encode(signedSchema.write(manifest));
}

/** Parses and checks a manifest from untrusted bytes, signature included. */
export function openManifest(backend: CryptoBackend, raw: Uint8Array): Manifest {
  const manifest = signedSchema.read(decode(raw, { maxBytes: LIMITS.manifestBytes }), 'manifest');
  checkConsistency(manifest);
  const { sig, ...body } = manifest;
  verifyDomain(backend, manifest.tasker, 'manifest', manifestSigningBytes(body), sig);
  return manifest;
}

/** The file whose bytes unit `unit` receives as input, if any. */
export function unitInputRef(manifest: ManifestBody, unit: number): FileRef | undefined {
  if (!Number.isInteger(unit) || unit < 0 || unit >= manifest.units) {
    throw new SchemaError(`expected a unit in [0, ${manifest.units}), got ${unit}`, { field: 'unit' });
  }
  return manifest.inputs ? manifest.inputs[unit] : manifest.input;
}

/** Throws unless `content` is exactly the file the manifest names. */
export function checkFile(backend: CryptoBackend, ref: FileRef, content: Uint8Array): void {
  const actual = backend.sha256(content);
  if (content.length !== ref.size || !equalBytes(actual, ref.sha256)) {
    throw new HashMismatchError(
      `${ref.path}: expected sha256 ${toHex(ref.sha256)} (${ref.size} bytes), got ${toHex(actual)} (${content.length} bytes)`,
      { field: ref.path },
    );
  }
}

export function ppmFromFraction(fraction: number, field: string): number {
  if (!(fraction >= 0 && fraction <= 1)) {
    throw new SchemaError(`${field}: expected a fraction in [0, 1], got ${fraction}`, { field });
  }
  return Math.round(fraction * PPM);
}
