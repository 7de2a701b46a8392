// verify_per_s: ed25519 verifications per second through the strict,
// domain-separated verifier, on the Node backend (libsodium), on the same
// backend with OpenSSL's ed25519, and on tweetnacl, measured in the same run
// so the ratios survive a noisy machine.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { naclCrypto } from '../protocol/crypto/nacl.ts';
import { ed25519Library, nodeCrypto, opensslCrypto } from '../protocol/crypto/node.ts';
import { signDomain, verifyDomain } from '../protocol/crypto/sign.ts';
import type { Figure } from './results-file.ts';

function rate(backend: CryptoBackend, ms: number): number {
  const seeds = Array.from({ length: 16 }, (_, i) => new Uint8Array(32).fill(i + 1));
  const keys = seeds.map((s) => backend.ed25519PublicKey(s));
  const message = new Uint8Array(200).fill(7);
  const sigs = seeds.map((s) => signDomain(backend, s, 'result', message));
  let count = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 16; i++) verifyDomain(backend, keys[i]!, 'result', message, sigs[i]!);
    count += 16;
  }
  return (count * 1000) / ms;
}

/** OpenSSL's own figure for this CPU, when the openssl command is here: the ceiling for the Node backend. */
async function opensslVerifyRate(): Promise<number | undefined> {
  try {
    const { stdout } = await promisify(execFile)('openssl', ['speed', '-seconds', '2', 'ed25519'], { timeout: 20_000 });
    const line = stdout.split('\n').find((l) => l.includes('Ed25519'));
    const fields = line?.trim().split(/\s+/);
    return fields ? Math.round(Number(fields.at(-1))) : undefined;
  } catch {
    return undefined;
  }
}

export async function benchVerify(): Promise<Record<string, Figure>> {
  rate(nodeCrypto, 200); // warm-up
  const node = Math.round(rate(nodeCrypto, 2000));
  const nacl = Math.round(rate(naclCrypto, 2000));
  const viaOpenssl = Math.round(rate(opensslCrypto, 2000));
  const openssl = await opensslVerifyRate();
  return {
    verify_per_s: {
      value: node,
      unit: 'verifications/s',
      target: '>= 8000',
      pass: node >= 8000,
      library: ed25519Library,
      tweetnacl_per_s: nacl,
      node_openssl_per_s: viaOpenssl,
      ratio_node_to_openssl: Math.round((node / viaOpenssl) * 100) / 100,
      ratio_node_to_tweetnacl: Math.round((node / nacl) * 10) / 10,
      openssl_speed_verify_per_s: openssl ?? null,
      notes: '16 keys in rotation, 200-byte messages, strict checks included, one core',
    },
  };
}
