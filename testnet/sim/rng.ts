// Seeded randomness and the simulated outputs. No real computation happens:
// a unit's true output hash is a function of the unit alone, and any other
// hash is wrong. Cheaters who agree on a lie use one forged hash per unit;
// a lone cheater's garbage is its own.

/** mulberry32: small, fast, and good enough to drive a simulation. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HASH_BYTES = 32;
const TRUE_TAG = 0xa5;
const FORGED_TAG = 0x5a;
const GARBAGE_TAG = 0x00;

function tagged(unit: number, tag: number): Uint8Array {
  const h = new Uint8Array(HASH_BYTES).fill(tag);
  new DataView(h.buffer).setUint32(0, unit);
  return h;
}

/** The output hash every honest computation of `unit` yields. */
export function trueHash(unit: number): Uint8Array {
  return tagged(unit, TRUE_TAG);
}

/** The wrong hash a coalition agrees on for `unit`: the same for all its members. */
export function forgedHash(unit: number): Uint8Array {
  return tagged(unit, FORGED_TAG);
}

/** A lone cheater's wrong hash, unlike anyone else's. */
export function garbageHash(unit: number, random: () => number): Uint8Array {
  const h = tagged(unit, GARBAGE_TAG);
  for (let i = 4; i < HASH_BYTES; i++) h[i] = Math.floor(random() * 256);
  h[HASH_BYTES - 1] = GARBAGE_TAG; // never equal to a true or forged hash
  return h;
}

export function isTrue(unit: number, hash: Uint8Array | undefined): boolean {
  if (!hash || hash.length !== HASH_BYTES) return false;
  const t = trueHash(unit);
  for (let i = 0; i < HASH_BYTES; i++) if (hash[i] !== t[i]) return false;
  return true;
}

/** A multiplier in [1 − spread, 1 + spread]. */
export function jitter(random: () => number, spread: number): number {
  return 1 + (random() * 2 - 1) * spread;
}

/** An exponentially distributed duration with the given mean. */
export function exponential(random: () => number, mean: number): number {
  return -Math.log(1 - random()) * mean;
}

/** An IPv4 /16 prefix, as the coordinator's groups name them. */
export function randomGroup(random: () => number): string {
  return `${1 + Math.floor(random() * 223)}.${Math.floor(random() * 256)}`;
}
