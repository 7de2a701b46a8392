// message_path_us: the main-thread cost of one result crossing a channel, as
// the worker sends it and the tasker receives and verifies it, through the
// sealed path (encoded once to send, decoded once on arrival, verified
// against the received bytes) and through the path the channel had before
// it, rebuilt here from the same primitives: sign (encode the body, then the
// message, then decode it to check it), send (encode and decode again),
// receive (decode), verify (encode and decode to check the fields, encode the
// body). Both run in the same process, interleaved, so the ratio survives a
// noisy machine.

import { decode, encode } from '../protocol/bencode.ts';
import { Identity } from '../protocol/crypto/identity.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { signDomain, verifyDomain } from '../protocol/crypto/sign.ts';
import { LIMITS } from '../protocol/constants.ts';
import { MESSAGES, openMessage, readMessage, sealMessage, verifySealed, type Message, type UnsignedMessage } from '../protocol/messages/index.ts';
import type { Figure } from './results-file.ts';

const worker = Identity.generate(nodeCrypto);
const seed = worker.exportSeed();
const schema = MESSAGES.result.schema;

function result(outputBytes: number): UnsignedMessage {
  const output = new Uint8Array(outputBytes).fill(0x5a);
  return {
    t: 'result',
    v: 2,
    task: new Uint8Array(20).fill(1),
    unit: 17,
    lease: new Uint8Array(16).fill(2),
    hash: nodeCrypto.sha256(output),
    runMs: 80,
    output,
    worker: worker.publicKey,
  };
}

/** A full encode checked by decoding it, as every send and check did before the seam. */
function encodeChecked(message: Message): Uint8Array {
  const bytes = encode(schema.write(message as never));
  readMessage(decode(bytes));
  return bytes;
}

function before(unsigned: UnsignedMessage): void {
  // Worker: signMessage, then the channel's encodeMessage.
  const body = encode(schema.write({ ...unsigned, sig: undefined } as never));
  const signed = { ...unsigned, sig: signDomain(nodeCrypto, seed, 'result', body) } as Message;
  const checked = readMessage(decode(encodeChecked(signed)));
  const wire = encodeChecked(checked);
  // Tasker: decodeMessage, then verifyMessage.
  const received = readMessage(decode(wire)) as Message & { sig: Uint8Array; worker: Uint8Array };
  encodeChecked({ ...received, sig: new Uint8Array(64) } as Message);
  const receivedBody = encode(schema.write({ ...received, sig: undefined } as never));
  verifyDomain(nodeCrypto, received.worker, 'result', receivedBody, received.sig);
}

function after(unsigned: UnsignedMessage): void {
  const sealed = sealMessage(nodeCrypto, seed, unsigned);
  verifySealed(nodeCrypto, openMessage(sealed.bytes));
}

function timePer(run: () => void, ms: number): number {
  let count = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    run();
    count++;
  }
  return ((performance.now() - start) * 1000) / count;
}

export async function benchMessagePath(): Promise<Record<string, Figure>> {
  const figures: Record<string, number> = {};
  for (const [name, size] of [
    ['inline_max', LIMITS.inlineOutputBytes],
    ['small', 64],
  ] as const) {
    const message = result(size);
    before(message);
    after(message);
    // Interleaved rounds, so a slow spell of the machine falls on both paths.
    let beforeUs = 0;
    let afterUs = 0;
    for (let round = 0; round < 5; round++) {
      beforeUs += timePer(() => before(message), 200);
      afterUs += timePer(() => after(message), 200);
    }
    figures[`${name}_before_us`] = Math.round((beforeUs / 5) * 10) / 10;
    figures[`${name}_after_us`] = Math.round((afterUs / 5) * 10) / 10;
  }
  const ratio = Math.round((figures.inline_max_after_us! / figures.inline_max_before_us!) * 100) / 100;
  return {
    message_path_ratio: {
      value: ratio,
      unit: 'sealed / before, per result',
      target: '< 1',
      pass: ratio < 1,
      ...figures,
      notes: `one result message signed, sent, received and verified on one thread (Node backend); inline_max carries a ${LIMITS.inlineOutputBytes}-byte output, small a 64-byte one; before is the path the channel had before the seam (3 encodes and 2 decodes to send, 2 decodes and 2 encodes to receive), rebuilt from the same primitives`,
    },
  };
}
