// `cycles relay`'s flags as parsed before anything starts: what the onion
// flags turn into, and a UsageError, naming the flag, for each mistake.

import { describe, expect, it } from 'vitest';
import { parseRelayArgs, usage } from '../../cli/relay.ts';
import { UsageError } from '../../cli/usage.ts';

const base = ['--dht-bootstrap', '127.0.0.1:6881'];

function refusal(argv: string[]): UsageError {
  try {
    parseRelayArgs([...base, ...argv]);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error(`expected a UsageError for ${argv.join(' ')}`);
}

describe('cycles relay flags', () => {
  it('forwards no onion packets unless asked, and takes every onion flag when asked', () => {
    expect(parseRelayArgs(base)).toMatchObject({ onion: false, exitMints: [], peers: [], family: undefined, stateDir: undefined });
    const args = parseRelayArgs([
      ...base,
      '--onion',
      '--exit-mint', 'https://mint.example',
      '--exit-mint', 'http://127.0.0.1:8300',
      '--peer', 'ws://127.0.0.2:8100',
      '--peer', 'wss://relay.example/',
      '--family', 'ops@example',
      '--state-dir', '/var/lib/relay',
      '--host', '127.0.0.3',
      '--port', '0',
    ]);
    expect(args).toMatchObject({
      onion: true,
      exitMints: ['https://mint.example', 'http://127.0.0.1:8300'],
      peers: ['ws://127.0.0.2:8100', 'wss://relay.example/'],
      family: 'ops@example',
      stateDir: '/var/lib/relay',
      host: '127.0.0.3',
      port: 0,
    });
    expect(usage).toContain('[--onion [--exit-mint ORIGIN]… [--state-dir DIR]]');
  });

  it('refuses an exit mint that is not an origin as URL.origin writes it', () => {
    for (const bad of ['mint.example', 'https://mint.example/', 'https://mint.example/v1', 'ftp://mint.example', 'https://MINT.example', 'https://mint.example:443', '']) {
      expect(refusal(['--onion', '--exit-mint', bad]).message).toMatch(/^--exit-mint: /);
    }
  });

  it('refuses more exit mints than a descriptor holds, repeats, and an exit without --onion', () => {
    const five = ['a', 'b', 'c', 'd', 'e'].flatMap((h) => ['--exit-mint', `https://${h}.example`]);
    expect(refusal(['--onion', ...five]).message).toMatch(/at most 4/);
    expect(refusal(['--onion', '--exit-mint', 'https://a.example', '--exit-mint', 'https://a.example']).message).toMatch(/repeats/);
    expect(refusal(['--onion', '--exit-mint', `https://${'m'.repeat(60)}.example`]).message).toMatch(/at most 64 bytes/);
    expect(refusal(['--exit-mint', 'https://a.example']).message).toMatch(/add --onion/);
  });

  it('refuses a bad peer, too many peers, and a family label the descriptor cannot carry', () => {
    expect(refusal(['--peer', 'http://127.0.0.2:8100']).message).toMatch(/^--peer: /);
    expect(refusal(['--peer', 'ws://a b']).message).toMatch(/^--peer: /);
    expect(refusal(Array.from({ length: 17 }, (_, i) => ['--peer', `ws://127.0.0.${i + 2}:8100`]).flat()).message).toMatch(/at most 16/);
    expect(refusal(['--family', 'two words']).message).toMatch(/^--family: /);
    expect(refusal(['--family', 'x'.repeat(33)]).message).toMatch(/^--family: /);
  });
});
