// Regenerates test/vectors/handshake.json: `npx tsx scripts/generate-vectors-handshake.ts`.
//
// One task-wire handshake (protocol/handshake.ts, version 1) between fixed
// identities with fixed ephemeral keys, so another implementation can check
// its frames byte for byte: the initiation, the response, the initiator's
// empty confirmation and one message each way. Then frames each side must
// refuse, with the typed error and field it must refuse them with. Bytes come
// from the node backend and are made again with tweetnacl and noble; nothing
// is written unless all three agree and every refusal happens.

import { writeFileSync } from 'node:fs';
import { encode } from '../protocol/bencode.ts';
import { fromHex, toHex, utf8 } from '../protocol/bytes.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { naclCrypto } from '../protocol/crypto/nacl.ts';
import { nobleCrypto } from '../protocol/crypto/noble.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { SpareCyclesError } from '../protocol/errors.ts';
import {
  Initiation,
  TimestampGuard,
  encodeFrame,
  respond,
  taskPrologue,
  vouchFor,
  type HandshakeIdentity,
} from '../protocol/handshake.ts';
import { IkInitiator } from '../protocol/noise.ts';

const WORKER_SEED = new Uint8Array(32).fill(0x11);
const TASKER_SEED = new Uint8Array(32).fill(0x22);
const OTHER_SEED = new Uint8Array(32).fill(0x33);
const INFO_HASH = new Uint8Array(20).fill(0xab);
const OTHER_INFO_HASH = new Uint8Array(20).fill(0xcd);
const WORKER_E = new Uint8Array(32).fill(0x44);
const TASKER_E = new Uint8Array(32).fill(0x55);
const TS = 1_800_000_000_000;
const WORKER = { caps: ['wasm', 'bep10', 'result-torrent'], agent: 'sparecycles-worker/0.1' };
const TASKER = { caps: ['wasm', 'bep10', 'result-torrent'], agent: 'sparecycles-tasker/0.1' };
const TO_TASKER = utf8('d1:t5:claime');
const TO_WORKER = utf8('d1:t6:assigne');

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new SpareCyclesError('INTERNAL', `generate-vectors-handshake: ${what}`);
}

function run(backend: CryptoBackend) {
  const worker = Identity.fromSeed(backend, WORKER_SEED);
  const tasker = Identity.fromSeed(backend, TASKER_SEED);
  const initiation = new Initiation({
    backend,
    identity: worker,
    infoHash: INFO_HASH,
    responder: { key: tasker.publicKey, noise: tasker.noise.publicKey },
    ts: TS,
    ...WORKER,
    ephemeral: WORKER_E,
  });
  const answer = respond({ backend, identity: tasker, infoHash: INFO_HASH, timestamps: new TimestampGuard(), ...TASKER, ephemeral: TASKER_E, now: TS }, initiation.frame);
  const done = initiation.finish(answer.frame);
  const confirm = done.session.seal(new Uint8Array(0));
  check(answer.session.open(confirm).length === 0, 'confirmation');
  const toTasker = done.session.seal(TO_TASKER);
  check(toHex(answer.session.open(toTasker)) === toHex(TO_TASKER), 'worker to tasker');
  const toWorker = answer.session.seal(TO_WORKER);
  check(toHex(done.session.open(toWorker)) === toHex(TO_WORKER), 'tasker to worker');
  return {
    worker,
    tasker,
    initiation: toHex(initiation.frame),
    response: toHex(answer.frame),
    handshakeHash: toHex(done.session.handshakeHash),
    confirm: toHex(confirm),
    toTasker: toHex(toTasker),
    toWorker: toHex(toWorker),
  };
}

const [first, ...others] = [nodeCrypto, naclCrypto, nobleCrypto].map(run);
for (const other of others) {
  for (const field of ['initiation', 'response', 'handshakeHash', 'confirm', 'toTasker', 'toWorker'] as const) {
    check(other[field] === first![field], `backends disagree on ${field}`);
  }
}
const { worker, tasker } = first!;
const backend = nodeCrypto;
const other = Identity.fromSeed(backend, OTHER_SEED);

interface Invalid {
  name: string;
  /** Who must refuse the frame: the tasker (`responder`, with a fresh timestamp memory) or the worker (`initiator`, waiting on the valid initiation). */
  side: 'responder' | 'initiator';
  frame: string;
  /** For the responder: the valid initiation was admitted first. */
  afterValid?: boolean;
  error: string;
  field: string | null;
}
const invalid: Invalid[] = [];

/** An initiation from `identity` with its own ephemeral key, to the vector's tasker for INFO_HASH unless told otherwise. */
function initiationFrom(identity: HandshakeIdentity, options: { infoHash?: Uint8Array; ts?: number; vouch?: Uint8Array; noise?: Uint8Array } = {}): Uint8Array {
  return new Initiation({
    backend,
    identity,
    infoHash: options.infoHash ?? INFO_HASH,
    responder: { key: tasker.publicKey, noise: options.noise ?? tasker.noise.publicKey },
    ts: options.ts ?? TS + 1,
    ...WORKER,
    ...(options.vouch ? { vouch: options.vouch } : {}),
    ephemeral: new Uint8Array(32).fill(0x66),
  }).frame;
}

/** An initiation whose Noise payload is `payload` as given, not a valid one. */
function initiationCarrying(payload: Uint8Array): Uint8Array {
  const noise = new IkInitiator({ backend, prologue: taskPrologue(INFO_HASH), s: worker.noise, rs: tasker.noise.publicKey, e: new Uint8Array(32).fill(0x77) });
  return encodeFrame('initiation', noise.writeMessage1(payload));
}

function refusedBy(side: 'responder' | 'initiator', name: string, frame: Uint8Array, afterValid = false): void {
  let error: SpareCyclesError | undefined;
  try {
    if (side === 'responder') {
      const timestamps = new TimestampGuard();
      const options = { backend, identity: tasker, infoHash: INFO_HASH, timestamps, ...TASKER, now: TS };
      if (afterValid) respond(options, fromHex(first!.initiation));
      respond(options, frame);
    } else {
      const initiation = new Initiation({
        backend,
        identity: worker,
        infoHash: INFO_HASH,
        responder: { key: tasker.publicKey, noise: tasker.noise.publicKey },
        ts: TS,
        ...WORKER,
        ephemeral: WORKER_E,
      });
      initiation.finish(frame);
    }
  } catch (caught) {
    error = caught as SpareCyclesError;
  }
  check(error !== undefined && typeof error.code === 'string', `${name}: expected a typed refusal`);
  invalid.push({ name, side, frame: toHex(frame), ...(afterValid ? { afterValid } : {}), error: error.constructor.name, field: error.field ?? null });
}

const valid1 = fromHex(first!.initiation);
const valid2 = fromHex(first!.response);
const flip = (bytes: Uint8Array, at: number) => {
  const out = bytes.slice();
  out[(at + out.length) % out.length]! ^= 1;
  return out;
};

refusedBy('responder', 'an empty frame', new Uint8Array(0));
refusedBy('responder', 'the initiation cut short', valid1.subarray(0, 60));
refusedBy('responder', 'handshake version 2', Uint8Array.of(2, ...valid1.subarray(1)));
refusedBy('responder', 'an unknown kind', Uint8Array.of(1, 9, ...valid1.subarray(2)));
refusedBy('responder', 'a response where an initiation belongs', valid2);
refusedBy('responder', 'one bit of the encrypted static key flipped', flip(valid1, 2 + 40));
refusedBy('responder', 'one bit of the payload tag flipped', flip(valid1, -1));
refusedBy('responder', 'the same initiation again: a replay', valid1, true);
refusedBy('responder', 'an initiation for another task', initiationFrom(worker, { infoHash: OTHER_INFO_HASH }));
refusedBy('responder', 'an initiation to another tasker', initiationFrom(worker, { noise: other.noise.publicKey }));
refusedBy('responder', 'a vouch over another static key', initiationFrom(worker, { vouch: vouchFor(other) }));
refusedBy(
  'responder',
  'an identity that never vouched for the static key',
  initiationFrom({ publicKey: other.publicKey, noise: worker.noise, sign: (d, b) => worker.sign(d, b) }),
);
refusedBy('responder', 'a payload that is not bencode', initiationCarrying(utf8('not bencode')));
refusedBy('responder', 'a payload without ts', initiationCarrying(encode({ agent: '', caps: [], key: worker.publicKey, sig: vouchFor(worker) })));

const answerFrom = (identity: HandshakeIdentity) =>
  respond({ backend, identity, infoHash: INFO_HASH, timestamps: new TimestampGuard(), ...TASKER, ephemeral: TASKER_E, now: TS }, valid1).frame;
refusedBy('initiator', 'the response cut short', valid2.subarray(0, 40));
refusedBy('initiator', 'an initiation where a response belongs', valid1);
refusedBy('initiator', 'one bit of the response flipped', flip(valid2, -3));
refusedBy('initiator', 'a response naming another identity than the manifest', answerFrom({ publicKey: other.publicKey, noise: tasker.noise, sign: (d, b) => other.sign(d, b) }));
refusedBy('initiator', "a response whose vouch is another identity's", answerFrom({ publicKey: tasker.publicKey, noise: tasker.noise, sign: (d, b) => other.sign(d, b) }));
refusedBy(
  'initiator',
  'a response to another initiation: a replayed or relayed answer',
  respond({ backend, identity: tasker, infoHash: INFO_HASH, timestamps: new TimestampGuard(), ...TASKER, ephemeral: TASKER_E, now: TS }, initiationFrom(worker)).frame,
);

const vectors = {
  description:
    'One SpareCycles task-wire handshake (Noise_IK_25519_ChaChaPoly_SHA256, handshake version 1) between fixed identities and ephemeral keys, and frames each side must refuse. See docs/protocol.md, "The task-wire handshake".',
  workerSeed: toHex(WORKER_SEED),
  taskerSeed: toHex(TASKER_SEED),
  otherSeed: toHex(OTHER_SEED),
  workerKey: toHex(worker.publicKey),
  workerNoise: toHex(worker.noise.publicKey),
  taskerKey: toHex(tasker.publicKey),
  taskerNoise: toHex(tasker.noise.publicKey),
  infoHash: toHex(INFO_HASH),
  prologue: toHex(taskPrologue(INFO_HASH)),
  workerEphemeral: toHex(WORKER_E),
  taskerEphemeral: toHex(TASKER_E),
  ts: TS,
  worker: WORKER,
  tasker: TASKER,
  initiation: first!.initiation,
  response: first!.response,
  handshakeHash: first!.handshakeHash,
  confirm: first!.confirm,
  toTasker: { plaintext: toHex(TO_TASKER), frame: first!.toTasker },
  toWorker: { plaintext: toHex(TO_WORKER), frame: first!.toWorker },
  invalid,
};
writeFileSync(new URL('../test/vectors/handshake.json', import.meta.url), `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`handshake vectors: initiation ${valid1.length} bytes, response ${valid2.length} bytes, ${invalid.length} refusals`);
