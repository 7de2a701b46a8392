// The DHT topics are info-hashes everyone must agree on, and each is written
// in protocol/constants.ts as hex: recompute them from the phrases they hash,
// so a slip in a digit cannot leave taskers, workers and relays on different topics.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OFFER_TOPIC_HEX, RELAY_TOPIC_HEX } from '../../protocol/constants.ts';

const sha1Hex = (text: string) => createHash('sha1').update(text, 'utf8').digest('hex');

describe('DHT topics', () => {
  it('the offer topic is sha1("sparecycles offers v1")', () => {
    expect(OFFER_TOPIC_HEX).toBe(sha1Hex('sparecycles offers v1'));
  });

  it('the relay topic is sha1("sparecycles relays v1")', () => {
    expect(RELAY_TOPIC_HEX).toBe(sha1Hex('sparecycles relays v1'));
  });

  it('the two topics differ', () => {
    expect(OFFER_TOPIC_HEX).not.toBe(RELAY_TOPIC_HEX);
  });
});
