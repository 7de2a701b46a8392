// A tasker's offer, where workers can find it. A BEP 44 mutable item under the
// tasker's key holds the signed offer, but only someone who already knows that
// key can fetch it, and an announce on the offer topic yields nothing but
// ip:port pairs. So the tasker also runs a tiny offer endpoint: a TCP server
// that speaks the BitTorrent wire on the topic info-hash and hands its signed
// offer to any peer whose BEP 10 handshake lists `sc_offer`. The endpoint's
// port is what the tasker announces; the offer it serves names the key.
//
// The endpoint faces the whole internet, so every peer is on a short leash:
// one deadline per connection, a byte budget, a cap on open sockets. A peer
// that breaks the rules is logged as a warning and dropped; nothing it sends
// can stop the endpoint.
//
// The rendezvous (the tasker's onion mailbox, for stealth workers) is held
// apart from the other fields: the mailbox may open only after the offer is
// out, and every offer signed from then on must carry it, whatever else a
// later update changes.

import net from 'node:net';
import type DHT from 'bittorrent-dht';
import Wire from 'bittorrent-protocol';
import type { Logger } from '../serve/log.ts';
import { decode, encode } from '../protocol/bencode.ts';
import { concatBytes, equalBytes, toHex, utf8 } from '../protocol/bytes.ts';
import { announceOnTopic, putMessageItem } from '../net/dht.ts';
import { MESSAGE_TYPES, OFFER_EXTENSION, OFFER_TOPIC_HEX } from '../protocol/constants.ts';
import type { CryptoBackend } from '../protocol/crypto/backend.ts';
import type { Identity } from '../protocol/crypto/identity.ts';
import { sealSigned, signMessage } from '../protocol/messages/index.ts';
import type { Offer, Unsigned } from '../protocol/messages/index.ts';
import { rendezvous as rendezvousSchema, type Rendezvous } from '../protocol/messages/offer.ts';
import { messageExtension } from '../protocol/wire.ts';
import { SpareCyclesError } from '../protocol/errors.ts';

/** What the tasker chooses; the publisher adds type, version, rendezvous, seq, key and signature. */
export type OfferFields = Omit<Offer, 't' | 'v' | 'rendezvous' | 'seq' | 'tasker' | 'sig'>;

export interface OfferPublisherOptions {
  backend: CryptoBackend;
  identity: Identity;
  dht: DHT;
  /** Address the endpoint binds: 127.0.0.1 keeps tests on loopback; the CLI passes 0.0.0.0. */
  host?: string;
  log?: Logger;
  /** How often to put the item and announce again; DHT nodes forget both after a while. */
  reannounceMs?: number;
  /** Open sockets beyond this are refused at once. */
  maxSockets?: number;
  /** How long one peer may take from connecting to receiving the offer. */
  peerTimeoutMs?: number;
  /** The rendezvous the first offer names, if the mailbox is open already; setRendezvous() changes it. */
  rendezvous?: Rendezvous;
}

const DEFAULTS = { host: '127.0.0.1', reannounceMs: 10 * 60_000, maxSockets: 64, peerTimeoutMs: 5_000 };
/** A whole exchange is a handshake and a BEP 10 handshake: a few hundred bytes. */
const MAX_PEER_BYTES = 16 * 1024;
/** BEP 44's "sequence number less than current": the nodes already hold this item. */
const SEQ_NOT_NEWER = 302;

export class OfferPublisher {
  readonly #options: OfferPublisherOptions & typeof DEFAULTS;
  readonly #sockets = new Set<net.Socket>();
  readonly #peerId: Uint8Array;
  #server: net.Server | undefined;
  #offer: Offer | undefined;
  #rendezvous: Rendezvous | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: OfferPublisherOptions) {
    this.#options = { ...DEFAULTS, ...withoutUndefined(options) };
    // Azureus-style client prefix, so a peer (or a packet capture) can tell who we are.
    this.#peerId = concatBytes(utf8('-SC0001-'), options.backend.randomBytes(12));
    this.#rendezvous = options.rendezvous && checkedRendezvous(options.rendezvous);
  }

  /** The endpoint's TCP port (the one announced on the topic). */
  get port(): number {
    const address = this.#server?.address();
    if (!address || typeof address === 'string') throw new SpareCyclesError('INTERNAL', 'the offer endpoint is not listening');
    return address.port;
  }

  /** The signed offer the endpoint serves and the DHT holds. */
  get current(): Offer {
    if (!this.#offer) throw new SpareCyclesError('INTERNAL', 'no offer yet: call start() first');
    return this.#offer;
  }

  /**
   * Signs the offer (seq 1), opens the endpoint, puts the item and announces
   * the endpoint. Rejects, with everything closed again, if any step fails.
   */
  async start(fields: OfferFields): Promise<void> {
    if (this.#server) throw new SpareCyclesError('INTERNAL', 'the offer publisher is already started');
    this.#offer = this.#sign(fields, 1);
    const server = net.createServer((socket) => this.#accept(socket));
    this.#server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, this.#options.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (error) => this.#log('error', 'offer-endpoint-error', { message: error.message }));
      await Promise.all([this.#put(this.#offer), this.#announce()]);
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.#log('info', 'offer-published', { port: this.port, seq: 1, task: toHex(this.#offer.task) });
    this.#timer = setInterval(() => void this.#refresh(), this.#options.reannounceMs);
    this.#timer.unref();
  }

  /**
   * Re-signs with seq + 1 and puts it. The endpoint serves the new offer at
   * once, even if the put fails (which rejects; the next refresh retries it).
   */
  async update(fields: Partial<OfferFields>): Promise<void> {
    const { t: _t, v: _v, rendezvous: _r, seq, tasker: _k, sig: _s, ...previous } = this.current;
    this.#offer = this.#sign({ ...previous, ...fields }, seq + 1);
    await this.#put(this.#offer);
    this.#log('info', 'offer-updated', { seq: this.#offer.seq, left: this.#offer.left });
  }

  /**
   * Names `rendezvous` (undefined: none, so no stealth workers) in every offer
   * signed from now on. Once started, a change is signed with seq + 1 and put
   * at once, as update() does; the same rendezvous again changes nothing. A
   * malformed one is refused with a SchemaError and the offer stays as it was.
   */
  async setRendezvous(rendezvous: Rendezvous | undefined): Promise<void> {
    const next = rendezvous && checkedRendezvous(rendezvous);
    if (sameRendezvous(next, this.#rendezvous)) return;
    this.#rendezvous = next;
    if (!this.#server || !this.#offer) return;
    const { t: _t, v: _v, rendezvous: _r, seq, tasker: _k, sig: _s, ...fields } = this.#offer;
    this.#offer = this.#sign(fields, seq + 1);
    this.#log('info', 'offer-rendezvous', { seq: this.#offer.seq, relay: next ? toHex(next.relay) : null });
    await this.#put(this.#offer);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #sign(fields: OfferFields, seq: number): Offer {
    const { backend, identity } = this.#options;
    const unsigned: Unsigned<Offer> = {
      ...fields,
      ...(this.#rendezvous ? { rendezvous: this.#rendezvous } : {}),
      t: 'offer',
      v: MESSAGE_TYPES.offer.version,
      seq,
      tasker: identity.publicKey,
    };
    return signMessage(backend, identity.exportSeed(), unsigned);
  }

  /** The BEP 44 item: `v` is the offer itself, so any DHT client can read it. */
  #put(offer: Offer): Promise<void> {
    const { backend, identity, dht } = this.#options;
    return putMessageItem(dht, backend, identity, offer, offer.seq);
  }

  #announce(): Promise<void> {
    return announceOnTopic(this.#options.dht, OFFER_TOPIC_HEX, this.port);
  }

  async #refresh(): Promise<void> {
    const offer = this.#offer;
    if (!offer || !this.#server) return;
    try {
      await this.#put(offer);
    } catch (error) {
      // Every node still holding this seq says so with 302; that is success.
      if ((error as { code?: number }).code !== SEQ_NOT_NEWER) {
        this.#log('warn', 'offer-put-failed', { message: (error as Error).message });
      }
    }
    try {
      if (this.#server) await this.#announce();
    } catch (error) {
      this.#log('warn', 'offer-announce-failed', { message: (error as Error).message });
    }
  }

  #accept(socket: net.Socket): void {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('error', (error) => this.#log('debug', 'offer-peer-socket', { peer, message: error.message }));
    if (!this.#server || this.#sockets.size >= this.#options.maxSockets) {
      this.#log('warn', 'offer-peer-refused', { peer, reason: `at the cap of ${this.#options.maxSockets} open sockets` });
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);

    let served = false;
    const drop = (reason: string) => {
      if (socket.destroyed) return;
      this.#log('warn', 'offer-peer-dropped', { peer, reason });
      socket.destroy();
    };
    // Served peers that linger are simply closed; only unserved ones are worth a warning.
    const deadline = setTimeout(
      () => (served ? socket.destroy() : drop(`nothing useful within ${this.#options.peerTimeoutMs} ms`)),
      this.#options.peerTimeoutMs,
    );
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_PEER_BYTES) drop(`sent more than ${MAX_PEER_BYTES} bytes`);
    });

    const wire = new Wire();
    socket.once('close', () => {
      clearTimeout(deadline);
      this.#sockets.delete(socket);
      wire.destroy();
    });
    wire.on('error', (error: Error) => drop(`wire error: ${error.message}`));
    // The wire ends itself on a bad handshake; a peer that hung up is not news.
    let peerEnded = false;
    socket.once('end', () => (peerEnded = true));
    wire.once('finish', () => {
      if (!served && !peerEnded) drop('expected the BitTorrent protocol handshake, got something else');
    });
    wire.use(
      messageExtension<Wire>(OFFER_EXTENSION, {
        open: (channel) => {
          // bittorrent-protocol runs our handlers inside its stream parser, where a throw would be uncaught.
          try {
            channel.send(sealSigned(this.current));
            served = true;
            this.#log('debug', 'offer-served', { peer, seq: this.current.seq });
            wire.end();
          } catch (error) {
            drop(`could not send the offer: ${(error as Error).message}`);
          }
        },
        message: (_channel, sealed) => drop(`expected nothing on ${OFFER_EXTENSION}, got ${sealed.message.t}`),
        invalid: (_channel, error) => drop(`malformed ${OFFER_EXTENSION} message: ${error.message}`),
        closed: () => {},
      }),
    );
    wire.on('handshake', (infoHash, _peerId, extensions) => {
      if (infoHash !== OFFER_TOPIC_HEX) return drop(`expected the offer topic ${OFFER_TOPIC_HEX}, got ${infoHash}`);
      if (!extensions.extended) return drop('expected the BEP 10 (extended) bit in the handshake, got none');
      try {
        // We answer second, so this also sends our BEP 10 handshake listing sc_offer.
        wire.handshake(OFFER_TOPIC_HEX, this.#peerId);
      } catch (error) {
        drop(`handshake failed: ${(error as Error).message}`);
      }
    });
    wire.on('extended', (ext) => {
      if (ext === 'handshake' && !wire.peerExtendedMapping[OFFER_EXTENSION]) {
        drop(`expected ${OFFER_EXTENSION} in the BEP 10 handshake, got none`);
      }
    });
    socket.pipe(wire).pipe(socket);
  }

  #log(level: 'debug' | 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>): void {
    this.#options.log?.({ level, event, ...fields });
  }
}

/** A fresh copy that has passed the wire schema, so a bad rendezvous fails here, not at the next signing. */
function checkedRendezvous(rendezvous: Rendezvous): Rendezvous {
  return rendezvousSchema.read(decode(encode(rendezvousSchema.write(rendezvous))), 'rendezvous');
}

function sameRendezvous(a: Rendezvous | undefined, b: Rendezvous | undefined): boolean {
  if (!a || !b) return a === b;
  return equalBytes(a.relay, b.relay) && equalBytes(a.mailbox, b.mailbox);
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
