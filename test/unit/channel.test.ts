// The channel seam: sealed messages (encoded once to send, decoded once on
// arrival, verified against the bytes that arrived) and its first transport,
// the BEP 10 channel. Every vector in test/vectors/messages.json is checked
// through the sealed path too, so it cannot drift from signMessage and
// verifyMessage.

import { describe, expect, it } from 'vitest';
import vectors from '../vectors/messages.json' with { type: 'json' };
import { dictEntries, encode } from '../../protocol/bencode.ts';
import { fromHex, toHex, utf8 } from '../../protocol/bytes.ts';
import type { ChannelListener, FrameChannel, MessageChannel } from '../../protocol/channel.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto } from '../../protocol/crypto/node.ts';
import { nobleCrypto } from '../../protocol/crypto/noble.ts';
import { DecodeError, ProtocolError, SchemaError, SignatureError, type SpareCyclesError } from '../../protocol/errors.ts';
import {
  encodeMessage,
  isSignedMessage,
  openMessage,
  sealMessage,
  sealSigned,
  signMessage,
  verifySealed,
  type MessageOf,
  type Sealed,
  type UnsignedMessage,
} from '../../protocol/messages/index.ts';
import { frameExtension, messageExtension, type ExtensibleWire } from '../../protocol/wire.ts';
import { caught } from '../support/caught.ts';

const worker = Identity.generate(nodeCrypto);

function result(output: Uint8Array): UnsignedMessage {
  return {
    t: 'result',
    v: 2,
    task: new Uint8Array(20).fill(7),
    unit: 3,
    lease: new Uint8Array(16).fill(9),
    hash: nodeCrypto.sha256(output),
    runMs: 12,
    output,
    worker: worker.publicKey,
  };
}

describe('sealed messages', () => {
  it('seal to the very bytes every valid vector encodes to, and open and verify them again', () => {
    expect(vectors.valid.length).toBeGreaterThan(20);
    let signed = 0;
    for (const vector of vectors.valid) {
      const bytes = fromHex(vector.encoded);
      const opened = openMessage(bytes);
      expect(toHex(encodeMessage(opened.message)), vector.name).toBe(vector.encoded);
      if (!isSignedMessage(opened.message)) continue;
      signed++;
      verifySealed(nodeCrypto, opened);
      const { sig: _sig, ...unsigned } = opened.message;
      const sealed = sealMessage(nodeCrypto, fromHex(vector.seed!), unsigned as UnsignedMessage);
      expect(toHex(sealed.bytes), vector.name).toBe(vector.encoded);
      expect(toHex(sealed.bytes)).toBe(toHex(encodeMessage(sealed.message)));
    }
    expect(signed).toBeGreaterThan(10);
  });

  it('refuse, through the sealed path, every vector that verify refuses', () => {
    const refused = vectors.invalid.filter((v) => v.stage === 'verify');
    expect(refused.length).toBeGreaterThan(5);
    for (const vector of refused) {
      const error = caught(() => verifySealed(nodeCrypto, openMessage(fromHex(vector.hex)))) as SpareCyclesError;
      expect(error.constructor.name, vector.name).toBe(vector.error);
      expect(error.field ?? null, vector.name).toBe(vector.field);
    }
  });

  it('keep the signature where sorted keys put it, whatever the output holds', () => {
    // An output that contains the text of the sig entry must not be taken for it.
    const output = utf8('d3:sig64:' + 'x'.repeat(64) + 'e3:sig64:');
    const sealed = sealMessage(nodeCrypto, worker.exportSeed(), result(output));
    expect(toHex(sealed.bytes)).toBe(toHex(encode(sealed.message as never)));
    const keys = dictEntries(sealed.bytes).map((e) => new TextDecoder().decode(e.key));
    expect(keys).toEqual([...keys].sort());
    expect(keys).toContain('sig');
    verifySealed(nodeCrypto, openMessage(sealed.bytes));
    verifySealed(nobleCrypto, openMessage(sealed.bytes));
  });

  it('refuse bytes changed after sealing, even where only the output changed', () => {
    const sealed = sealMessage(nodeCrypto, worker.exportSeed(), result(new Uint8Array(1000).fill(1)));
    const bytes = Uint8Array.from(sealed.bytes);
    bytes[bytes.length - 200]! ^= 1;
    const error = caught(() => verifySealed(nodeCrypto, openMessage(bytes)));
    expect(error).toBeInstanceOf(SignatureError);
    expect((error as SignatureError).field).toBe('sig');
  });

  it('give the signer the same bytes whether sealed or signed and encoded', () => {
    const unsigned = result(new Uint8Array(48 * 1024).fill(5));
    const sealed = sealMessage(nodeCrypto, worker.exportSeed(), unsigned);
    expect(toHex(sealed.bytes)).toBe(toHex(encodeMessage(signMessage(nodeCrypto, worker.exportSeed(), unsigned))));
    expect(toHex(sealSigned(sealed.message).bytes)).toBe(toHex(sealed.bytes));
  });

  it('refuse to seal with a seed whose key is not the signer, and to seal an unsigned type', () => {
    const other = Identity.generate(nodeCrypto);
    expect(caught(() => sealMessage(nodeCrypto, other.exportSeed(), result(new Uint8Array(1))))).toMatchObject({ code: 'KEY', field: 'worker' });
    const ok = { t: 'payment-ok', v: 1 } as unknown as UnsignedMessage;
    expect(caught(() => sealMessage(nodeCrypto, worker.exportSeed(), ok))).toBeInstanceOf(SchemaError);
  });

  it('copy an output once on arrival: the message owns its bytes, apart from the received buffer', () => {
    const sealed = sealMessage(nodeCrypto, worker.exportSeed(), result(new Uint8Array(64).fill(3)));
    const received = Uint8Array.from(sealed.bytes);
    const opened = openMessage(received);
    received.fill(0);
    expect((opened.message as MessageOf<'result'>).output).toEqual(new Uint8Array(64).fill(3));
  });
});

/** A wire as bittorrent-protocol gives it: the extension is constructed on it and fed payloads. */
class FakeWire implements ExtensibleWire {
  readonly sent: Uint8Array[] = [];
  destroyed = 0;
  private readonly onClose: Array<() => void> = [];
  extended(_ext: string, payload: Uint8Array): void {
    this.sent.push(payload);
  }
  destroy(): void {
    this.destroyed++;
    for (const f of this.onClose.splice(0)) f();
  }
  once(_event: 'close', listener: () => void): this {
    this.onClose.push(listener);
    return this;
  }
}

type Extension = { onExtendedHandshake(): void; onMessage(payload: Uint8Array): void };

function recorder() {
  const events: string[] = [];
  const channels: MessageChannel[] = [];
  const received: Sealed[] = [];
  const listener: ChannelListener = {
    open: (c) => (events.push('open'), channels.push(c)),
    message: (_c, sealed) => (events.push(`message:${sealed.message.t}`), received.push(sealed)),
    invalid: (_c, error) => events.push(`invalid:${error.code}`),
    closed: () => events.push('closed'),
  };
  return { events, channels, received, listener };
}

describe('the BEP 10 channel', () => {
  it('opens on the extended handshake, passes sealed bytes through untouched, and closes once with its wire', () => {
    const { events, channels, received, listener } = recorder();
    const wire = new FakeWire();
    const Ext = messageExtension<FakeWire>('sc_test', listener);
    expect(Ext.prototype.name).toBe('sc_test');
    const ext = new Ext(wire) as unknown as Extension;
    ext.onExtendedHandshake();
    ext.onExtendedHandshake();
    const channel = channels[0]!;
    expect(channel.open).toBe(true);

    const sealed = sealMessage(nodeCrypto, worker.exportSeed(), result(new Uint8Array(10).fill(2)));
    channel.send(sealed);
    expect(wire.sent).toEqual([sealed.bytes]);
    expect(wire.sent[0]).toBe(sealed.bytes);

    ext.onMessage(sealed.bytes);
    expect(received[0]!.bytes).toBe(sealed.bytes);
    verifySealed(nodeCrypto, received[0]!);
    ext.onMessage(Uint8Array.of(0x64, 0x31));
    wire.destroy();
    wire.destroy();
    expect(events).toEqual(['open', 'message:result', 'invalid:DECODE', 'closed']);
    expect(channel.open).toBe(false);
    expect(caught(() => channel.send(sealed))).toBeInstanceOf(ProtocolError);
  });

  it('refuses payloads over its limit before decoding them', () => {
    const { events, listener } = recorder();
    const ext = new (messageExtension<FakeWire>('sc_test', listener, 100))(new FakeWire()) as unknown as Extension;
    ext.onExtendedHandshake();
    const big = sealMessage(nodeCrypto, worker.exportSeed(), result(new Uint8Array(200)));
    ext.onMessage(big.bytes);
    expect(events).toEqual(['open', 'invalid:DECODE']);
  });

  it('closes its wire when its owner closes it, and says so once', () => {
    const { events, channels, listener } = recorder();
    const wire = new FakeWire();
    const ext = new (messageExtension<FakeWire>('sc_test', listener))(wire) as unknown as Extension;
    ext.onExtendedHandshake();
    channels[0]!.close();
    channels[0]!.close();
    expect(wire.destroyed).toBe(2);
    // The owner hears of its own close too, so that what it kept for the channel goes; the wire's close event adds nothing.
    expect(events).toEqual(['open', 'closed']);
    // A channel that never opened closes without a word.
    const quiet = recorder();
    const unopened = new FakeWire();
    new (messageExtension<FakeWire>('sc_test', quiet.listener))(unopened);
    unopened.destroy();
    expect(quiet.events).toEqual([]);
    expect(caught(() => openMessage(new Uint8Array(0)))).toBeInstanceOf(DecodeError);
  });
});

describe('the BEP 10 frame channel', () => {
  it('passes frames both ways as they are, and closes once with its wire', () => {
    const events: string[] = [];
    const frames: Uint8Array[] = [];
    let channel: FrameChannel | undefined;
    const wire = new FakeWire();
    const ext = new (frameExtension<FakeWire>('sc_task', {
      open: (c) => (events.push('open'), (channel = c)),
      frame: (_c, f) => (events.push('frame'), frames.push(f)),
      closed: () => events.push('closed'),
    }))(wire) as unknown as Extension;
    ext.onExtendedHandshake();
    const frame = Uint8Array.of(1, 3, 9, 9);
    channel!.send(frame);
    expect(wire.sent[0]).toBe(frame);
    ext.onMessage(Uint8Array.of(0xff));
    expect(frames).toEqual([Uint8Array.of(0xff)]);
    wire.destroy();
    expect(events).toEqual(['open', 'frame', 'closed']);
    expect(caught(() => channel!.send(frame))).toBeInstanceOf(ProtocolError);
  });
});
