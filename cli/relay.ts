import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { DhtNode } from '../net/dht.ts';
import { defaultKeyFile, loadOrCreateIdentity } from '../store/keys.ts';
import { jsonLogger } from '../serve/log.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { RELAY_URL_PATTERN } from '../protocol/messages/relay.ts';
import { RelayServer } from '../relay/relay.ts';
import { networkArgs, networkOptions } from './network-args.ts';
import { waitForSignal } from './signals.ts';
import { UsageError } from './usage.ts';

export const usage =
  'cycles relay [--port 8100] [--host 0.0.0.0] [--dht-bootstrap host:port,…] [--key FILE] [--public-url wss://…] [--verbose]';

/** Prints its ws:// URL on stdout; logs JSON lines on stderr; stops on SIGINT/SIGTERM. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      key: { type: 'string' },
      'public-url': { type: 'string' },
      'dht-bootstrap': networkOptions['dht-bootstrap'],
      verbose: { type: 'boolean' },
    },
  });
  const port = Number(values.port ?? '8100');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected 0..65535, got ${values.port}`);
  // Operators want every interface; tests and cautious users narrow it with --host 127.0.0.1.
  const host = values.host ?? '0.0.0.0';
  if (!isIP(host)) throw new UsageError(`--host: expected an IP address, got ${host}`);
  const publicUrl = values['public-url'];
  if (publicUrl !== undefined && !RELAY_URL_PATTERN.test(publicUrl)) {
    throw new UsageError(`--public-url: expected a ws:// or wss:// URL, got ${publicUrl}`);
  }
  const net = networkArgs({ 'dht-bootstrap': values['dht-bootstrap'] });
  if (net.dht === false) throw new UsageError('a relay needs the DHT');
  const log = jsonLogger(process.stderr, values.verbose ? 'debug' : 'info');
  const backend = nodeCrypto;

  const identity = await loadOrCreateIdentity(backend, values.key ?? defaultKeyFile('relay'));
  const node = new DhtNode(backend, {
    ...net.dht,
    // A private loopback network stays on loopback; otherwise the node joins the DHT on every interface.
    host: net.loopback ? '127.0.0.1' : '0.0.0.0',
    log: (level, event, message) => log({ level, event, message }),
  });
  const signal = waitForSignal();
  let relay: RelayServer | undefined;
  try {
    await node.start();
    relay = new RelayServer({ backend, identity, dht: node.dht, port, host, log, ...(publicUrl ? { publicUrl } : {}) });
    await relay.start();
  } catch (error) {
    await relay?.stop();
    await node.stop();
    throw error;
  }
  if (!publicUrl && (host === '0.0.0.0' || host === '::')) {
    log({ level: 'warn', event: 'relay-public-url', message: `the descriptor names ${relay.url}; pass --public-url so others can reach this relay` });
  }
  process.stdout.write(`${relay.url}\n`);

  log({ level: 'info', event: 'signal', signal: await signal });
  await relay.stop();
  await node.stop();
  return 0;
}
