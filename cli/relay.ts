import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DhtNode } from '../net/dht.ts';
import { defaultKeyFile, loadOrCreateIdentity, sparecyclesHome } from '../store/keys.ts';
import { jsonLogger } from '../serve/log.ts';
import { toHex } from '../protocol/bytes.ts';
import { MESSAGE_LIMITS } from '../protocol/constants.ts';
import { nodeCrypto } from '../protocol/crypto/node.ts';
import { MINT_ORIGIN_PATTERN, RELAY_FAMILY_PATTERN, RELAY_URL_PATTERN } from '../protocol/messages/relay.ts';
import { canonicalOrigin } from '../protocol/onion/envelope.ts';
import { MAX_PEERS } from '../relay/descriptor.ts';
import { OnionKeys } from '../relay/onion-keys.ts';
import { DiskReplayStore, ONION_REPLAY_DIR } from '../relay/onion-replay-store.ts';
import { RelayServer } from '../relay/relay.ts';
import { networkArgs, networkOptions, type NetworkArgs } from './network-args.ts';
import { waitForSignal } from './signals.ts';
import { UsageError } from './usage.ts';

export const usage =
  'cycles relay [--port 8100] [--host 0.0.0.0] [--dht-bootstrap host:port,…] [--key FILE] [--public-url wss://…] [--family LABEL] [--peer ws://…]… [--onion [--exit-mint ORIGIN]… [--state-dir DIR]] [--verbose]';

export interface RelayArgs {
  port: number;
  host: string;
  key: string | undefined;
  publicUrl: string | undefined;
  net: NetworkArgs & { dht: Exclude<NetworkArgs['dht'], false> };
  family: string | undefined;
  peers: string[];
  onion: boolean;
  exitMints: string[];
  /** Where the onion keys and replay tags live; undefined: a folder of the relay's own under $SPARECYCLES_HOME, named after its key. */
  stateDir: string | undefined;
  verbose: boolean;
}

/** The flags, checked: every mistake is a UsageError before anything starts. */
export function parseRelayArgs(argv: string[]): RelayArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      key: { type: 'string' },
      'public-url': { type: 'string' },
      'dht-bootstrap': networkOptions['dht-bootstrap'],
      family: { type: 'string' },
      peer: { type: 'string', multiple: true },
      // Onion forwarding is off unless asked for. Answering browsers' DHT
      // questions is cheap and public; carrying strangers' anonymous packets,
      // holding their mail and (with --exit-mint) posting for them to a mint
      // is a different undertaking, with its own bandwidth, state on disk
      // and exposure, that an operator should choose knowingly. It also
      // keeps existing `cycles relay` deployments doing what they did.
      onion: { type: 'boolean' },
      'exit-mint': { type: 'string', multiple: true },
      'state-dir': { type: 'string' },
      verbose: { type: 'boolean' },
    },
  });
  const port = Number(values.port ?? '8100');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected 0..65535, got ${values.port}`);
  // Operators want every interface; tests and cautious users narrow it with --host 127.0.0.1.
  const host = values.host ?? '0.0.0.0';
  if (!isIP(host)) throw new UsageError(`--host: expected an IP address, got ${host}`);
  const publicUrl = values['public-url'];
  if (publicUrl !== undefined && !isRelayUrl(publicUrl)) throw new UsageError(`--public-url: expected a ws:// or wss:// URL, got ${publicUrl}`);
  const net = networkArgs({ 'dht-bootstrap': values['dht-bootstrap'] });
  if (net.dht === false) throw new UsageError('a relay needs the DHT');

  const family = values.family;
  if (family !== undefined && !(RELAY_FAMILY_PATTERN.test(family) && Buffer.byteLength(family) <= MESSAGE_LIMITS.relayFamilyBytes)) {
    throw new UsageError(`--family: expected up to ${MESSAGE_LIMITS.relayFamilyBytes} printable ASCII characters without spaces, got ${JSON.stringify(family)}`);
  }
  const peers = values.peer ?? [];
  if (peers.length > MAX_PEERS) throw new UsageError(`--peer: expected at most ${MAX_PEERS}, got ${peers.length}`);
  for (const peer of peers) if (!isRelayUrl(peer)) throw new UsageError(`--peer: expected a ws:// or wss:// URL, got ${peer}`);

  const onion = values.onion ?? false;
  const exitMints = values['exit-mint'] ?? [];
  if (exitMints.length > 0 && !onion) throw new UsageError('--exit-mint: an exit forwards onion packets; add --onion');
  checkExitMints(exitMints);
  return {
    port,
    host,
    key: values.key,
    publicUrl,
    net: { ...net, dht: net.dht },
    family,
    peers,
    onion,
    exitMints,
    stateDir: values['state-dir'],
    verbose: values.verbose ?? false,
  };
}

/** Prints its ws:// URL on stdout; logs JSON lines on stderr; stops on SIGINT/SIGTERM. */
export async function main(argv: string[]): Promise<number> {
  const args = parseRelayArgs(argv);
  const { port, host, publicUrl, net } = args;
  const log = jsonLogger(process.stderr, args.verbose ? 'debug' : 'info');
  const backend = nodeCrypto;

  const identity = await loadOrCreateIdentity(backend, args.key ?? defaultKeyFile('relay'));
  // One folder per relay key by default, so two relays of one home never share onion keys.
  const stateDir = args.stateDir ?? join(sparecyclesHome(), `relay-${toHex(identity.publicKey).slice(0, 16)}`);
  // Written before the descriptor lists them, so a relay restarted within the epoch still peels what was built on them.
  const keys = args.onion ? await OnionKeys.open({ backend, dir: stateDir }) : undefined;
  // The tags live where the keys do: keys that outlive a restart would otherwise peel a packet captured before it again.
  const replay = keys ? await DiskReplayStore.open({ dir: join(stateDir, ONION_REPLAY_DIR), from: keys.epoch - 1 }) : undefined;
  const node = new DhtNode(backend, {
    ...net.dht,
    // A private loopback network stays on loopback, on the relay's own loopback address if it has one, so that what the
    // DHT announces is where the relay listens; otherwise the node joins the DHT on every interface.
    host: net.loopback ? (/^127\./.test(host) ? host : '127.0.0.1') : '0.0.0.0',
    log: (level, event, message) => log({ level, event, message }),
  });
  const signal = waitForSignal();
  let relay: RelayServer | undefined;
  try {
    await node.start();
    relay = new RelayServer({
      backend,
      identity,
      dht: node.dht,
      port,
      host,
      log,
      ...(publicUrl ? { publicUrl } : {}),
      ...(args.family === undefined ? {} : { family: args.family }),
      peers: args.peers,
      ...(keys ? { onion: { keys, mintOrigins: args.exitMints, ...(replay ? { replay } : {}) } } : {}),
    });
    await relay.start();
  } catch (error) {
    await relay?.stop();
    await replay?.close();
    await node.stop();
    throw error;
  }
  if (!publicUrl && (host === '0.0.0.0' || host === '::')) {
    log({ level: 'warn', event: 'relay-public-url', message: `the descriptor names ${relay.url}; pass --public-url so others can reach this relay` });
  }
  if (keys) log({ level: 'info', event: 'relay-onion', stateDir, epochs: keys.epochs, replayTags: replay?.size, exitMints: args.exitMints, peers: args.peers.length });
  process.stdout.write(`${relay.url}\n`);

  log({ level: 'info', event: 'signal', signal: await signal });
  await relay.stop();
  await replay?.close();
  await node.stop();
  return 0;
}

function isRelayUrl(url: string): boolean {
  if (!RELAY_URL_PATTERN.test(url) || Buffer.byteLength(url) > MESSAGE_LIMITS.relayUrlBytes) return false;
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

/** What the descriptor's exit policy takes: at most four origins, each as URL.origin writes it, short, and no repeats. */
function checkExitMints(origins: readonly string[]): void {
  if (origins.length > MESSAGE_LIMITS.relayExitMints) throw new UsageError(`--exit-mint: expected at most ${MESSAGE_LIMITS.relayExitMints}, got ${origins.length}`);
  const seen = new Set<string>();
  for (const origin of origins) {
    try {
      canonicalOrigin(origin);
    } catch (error) {
      throw new UsageError(`--exit-mint: ${(error as Error).message}`);
    }
    if (Buffer.byteLength(origin) > MESSAGE_LIMITS.relayMintOriginBytes || !MINT_ORIGIN_PATTERN.test(origin)) {
      throw new UsageError(`--exit-mint: expected an origin of at most ${MESSAGE_LIMITS.relayMintOriginBytes} bytes of letters, digits and .-[]:, got ${origin}`);
    }
    if (seen.has(origin.toLowerCase())) throw new UsageError(`--exit-mint: expected no repeats, got ${origin} twice`);
    seen.add(origin.toLowerCase());
  }
}
