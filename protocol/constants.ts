// The protocol's one table: versions, signing domains, error codes and limits.
// Anything that crosses the wire or is signed is named here and nowhere else.

/**
 * Every signature covers `domain ‖ canonical bytes`, so a signature made for
 * one kind of object can never be replayed as another. The trailing NUL ends
 * the domain unambiguously.
 */
export const DOMAINS = {
  manifest: 'sparecycles/v1/manifest\0',
  offer: 'sparecycles/v1/offer\0',
  claim: 'sparecycles/v1/claim\0',
  assign: 'sparecycles/v1/assign\0',
  result: 'sparecycles/v1/result\0',
  receipt: 'sparecycles/v1/receipt\0',
  payment: 'sparecycles/v1/payment\0',
  vector: 'sparecycles/v1/test-vector\0',
  relay: 'sparecycles/v1/relay\0',
  deposit: 'sparecycles/v1/deposit\0',
  ack: 'sparecycles/v1/ack\0',
  /** An ed25519 identity vouching for its Noise static key on a task wire (protocol/handshake.ts). */
  'noise-static': 'sparecycles/v1/noise-static\0',
  /** Two relays proving their identities to each other on an onion link (protocol/onion/link.ts). */
  'onion-link': 'sparecycles/v1/onion-link\0',
} as const;

export type Domain = keyof typeof DOMAINS;

/**
 * Names that were once in use and are never to be given out again, so that a
 * signature or a message made under the old meaning cannot be read under a
 * new one. `hello` (a signed greeting, version 1) was both a message type and
 * a signing domain; the task-wire handshake replaced it.
 */
export const RETIRED = {
  messageTypes: ['hello'],
  domains: { hello: 'sparecycles/v1/hello\0' },
} as const;

/**
 * What a peer's Noise static X25519 secret is derived from: sha512(label ‖
 * ed25519 seed), first 32 bytes (protocol/crypto/identity.ts). Its own label,
 * so the static key is never the ed25519 scalar itself.
 */
export const NOISE_STATIC_LABEL = 'sparecycles/v1/noise-static-key\0';

/**
 * The task-wire handshake (protocol/handshake.ts): Noise IK with the
 * worker as initiator. The prologue is this text followed by the task's
 * 20-byte info-hash, so a handshake for one task never completes for
 * another, and every frame starts with the version byte.
 */
export const TASK_HANDSHAKE = {
  version: 1,
  prologue: 'sparecycles/task-wire/v1\0',
  /** How many initiators' latest timestamps a responder remembers. */
  timestamps: 4096,
} as const;

/**
 * The sealing of a result torrent's files (protocol/result-cipher.ts):
 * ChaCha20-Poly1305 under a fresh key per torrent. Every file's associated
 * data starts with `label`, which carries the version, then the task and
 * the unit.
 */
export const RESULT_CIPHER = {
  version: 1,
  label: 'sparecycles/v1/result-file\0',
  keyBytes: 32,
  tagBytes: 16,
} as const;

/** Domain-separation tags for the credit scheme's hashes (protocol/credits/). */
export const CREDIT_DOMAINS = {
  /** RFC 9380 DST for hash_to_ristretto255(x). */
  hashToCurve: 'sparecycles/v1/credit/hash-to-curve',
  dleq: 'sparecycles/v1/credit/dleq\0',
  dleqNonce: 'sparecycles/v1/credit/dleq-nonce\0',
  keyset: 'sparecycles/v1/credit/keyset\0',
} as const;

/**
 * Requests sealed to the mint (protocol/oblivious.ts): RFC 9458's
 * encapsulation under RFC 9180 HPKE with one suite, X25519, HKDF-SHA256 and
 * ChaCha20-Poly1305, and its media-type labels, around an inner message of
 * our own at `version`.
 */
export const OBLIVIOUS = {
  version: 1,
  kem: 0x0020,
  kdf: 0x0001,
  aead: 0x0003,
  requestLabel: 'message/bhttp request',
  responseLabel: 'message/bhttp response',
  requestType: 'message/ohttp-req',
  responseType: 'message/ohttp-res',
  /** Largest inner body: the mint's body limit (mint-api.ts MAX_BODY_BYTES). */
  bodyBytes: 128 * 1024,
  pathBytes: 256,
  /** Inner messages are padded with zeros to a multiple of this, so that sizes say less about what is inside. */
  padBlock: 512,
} as const;

export const CREDIT_LIMITS = {
  /** Denominations 1, 2, 4, … 2^23 per keyset. */
  denominations: 24,
  /** Ys in one state query. */
  stateQuery: 1000,
} as const;

/** Error codes, local and on the wire. */
export const ERROR_CODES = [
  'DECODE',
  'SCHEMA',
  'VERSION',
  'KEY',
  'SIGNATURE',
  'HASH_MISMATCH',
  'UNIT_TIMEOUT',
  'UNIT_MEMORY',
  'UNIT_TRAP',
  'UNIT_ABI',
  'UNIT_CRASH',
  // A peer broke the conversation: a message out of turn, for another task, or from a key its channel did not greet with.
  'PROTOCOL',
  // A task wire's Noise session failed: a handshake message that does not decrypt or verify, a replayed one, a frame that does not authenticate.
  'HANDSHAKE',
  // The mint's refusals.
  'ALREADY_SPENT',
  'INVALID_CREDIT',
  'UNKNOWN_KEYSET',
  'AMOUNT',
  'INSUFFICIENT_FUNDS',
  'UNKNOWN_ACCOUNT',
  'UNAUTHORIZED',
  'REQUEST_REUSED',
  'TOO_LARGE',
  'RATE_LIMITED',
  'NOT_FOUND',
  'INTERNAL',
  /** A blinded output the mint has signed before: it signs each B once. */
  'ALREADY_SIGNED',
  /** A deposit for another mint. */
  'WRONG_MINT',
  /** A deposit whose time is outside the mint's window. */
  'STALE',
  // Reaching the other end: a server, a peer, another thread or page.
  /** It could not be reached, dropped the connection, or answered outside its protocol. Trying again may help. */
  'NETWORK',
  /** No answer within a deadline. */
  'TIMEOUT',
  /** Too much in flight already, or another holder; try again later. */
  'BUSY',
  /** A person asked for something that does not fit: a command line, a setting. */
  'USAGE',
  // A wallet's own refusals (worker/wallet-data.ts); FORMAT also for a mint's ledger.
  /** Stored data that does not read: a wallet, a ledger. */
  'FORMAT',
  /** An answer that does not fit its request: signatures for other outputs or amounts, another request's answer. */
  'MISMATCH',
  /** A signature for an output the wallet did not hand out, or already received. */
  'UNKNOWN_OUTPUT',
  /** A DLEQ proof that does not verify, or a signature that does not unblind. */
  'PROOF',
  /** Not enough credits. */
  'FUNDS',
  /** Credits that cover an amount but cannot make it exactly. */
  'CHANGE',
  /** Credits of several mints where one must be named. */
  'MINT',
  /** No account is set to redeem to. */
  'NO_ACCOUNT',
  // An onion packet a relay drops (protocol/onion/); a wrong size is DECODE, an unknown version VERSION, a bad ephemeral key KEY.
  /** A per-hop MAC that does not verify: a tampered header, or a packet for another key. */
  'ONION_MAC',
  /** A packet whose replay tag the relay has seen in this onion-key epoch. */
  'ONION_REPLAY',
  /** A payload whose zero tag does not check out at the end of its route: tampered on the way. */
  'ONION_PAYLOAD',
  /** A packet under an onion-key epoch the relay holds no key for: expired, or not yet begun. */
  'ONION_EPOCH',
  /** An HPKE-sealed message (protocol/hpke.ts, oblivious.ts) that does not open: tampered, cut short, or sealed to another key. */
  'DECRYPT',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The onion packet format (protocol/onion/, docs/onion.md): Sphinx over
 * X25519, one packet size for every packet, routes of at most `maxHops`
 * hops. Every key a hop uses comes from HKDF-SHA256 with salt `extract`
 * and one `info` label per purpose.
 */
export const ONION = {
  version: 1,
  packetBytes: 4096,
  maxHops: 5,
  /** Onion keys rotate network-wide: epoch = floor(unix ms / epochMs). A relay accepts the current and the previous epoch. */
  epochMs: 60 * 60 * 1000,
  labels: {
    extract: 'sparecycles/v1/onion\0',
    headerMac: 'sparecycles/v1/onion/header-mac\0',
    headerStream: 'sparecycles/v1/onion/header-stream\0',
    payload: 'sparecycles/v1/onion/payload\0',
    blind: 'sparecycles/v1/onion/blind\0',
    replay: 'sparecycles/v1/onion/replay\0',
    /** Sender-side, from the packet's ephemeral secret: the header's random padding and a reply block's own key. */
    padding: 'sparecycles/v1/onion/padding\0',
    surbKey: 'sparecycles/v1/onion/surb-key\0',
  },
} as const;

/**
 * Relays forwarding onion packets (relay/onion-*.ts, docs/relay-onion.md).
 * Packets travel as one 4096-byte binary WebSocket message each at `path`
 * on a relay's port; every other frame there is a link frame
 * (protocol/onion/link.ts). What an exit is handed is an exit envelope
 * (protocol/onion/envelope.ts).
 */
export const ONION_RELAY = {
  path: '/onion',
  /** The version of the link frames. */
  linkVersion: 1,
  /** The version of the exit envelope. */
  envelopeVersion: 1,
  /** Fresh bytes each end of a link contributes to what both sign. */
  nonceBytes: 32,
  /** The largest link frame a relay accepts; packets are ONION.packetBytes. */
  frameBytes: 8 * 1024,
  labels: {
    /** A mint exit's destination id: sha256(mintExit ‖ the mint's origin). */
    mintExit: 'sparecycles/v1/exit/mint\0',
    /** A mailbox's id: sha256(mailbox ‖ the secret its owner opens it with), so naming a mailbox does not let one empty it. */
    mailbox: 'sparecycles/v1/onion/mailbox\0',
  },
  /** Where a mint exit POSTs the body it was handed, and how it is typed (RFC 9458). */
  mintExitPath: '/v1/oblivious',
  exitRequestType: 'message/ohttp-req',
  exitResponseType: 'message/ohttp-res',
} as const;

/**
 * A stealth stream (protocol/onion/stream.ts, docs/stealth.md): the task
 * wire's frames carried whole and in order over onion packets between a
 * worker and a tasker's rendezvous, the worker's packets on forward routes
 * and the tasker's on the reply blocks the worker keeps it supplied with.
 */
export const ONION_STREAM = {
  version: 1,
  /** The stream id the worker picks: the tasker's name for the conversation, and nothing else. */
  idBytes: 16,
  /** Most reply blocks one segment carries. */
  maxSurbs: 6,
  /** Each frame on the stream is its length, big-endian, then its bytes. */
  lengthBytes: 4,
} as const;

export const LIMITS = {
  /** Largest control message (claim, assign, result, receipt, payment, redeem). */
  messageBytes: 64 * 1024,
  /** Largest signed manifest. Per-unit inputs live in the torrent, not here. */
  manifestBytes: 256 * 1024,
  /** Deepest nesting the canonical decoder accepts. */
  depth: 16,
  /** Largest output that rides inline in a result; larger ones travel as a torrent. */
  inlineOutputBytes: 48 * 1024,
  /** Most units one message may name. */
  unitsPerMessage: 1024,
  /** Most units in one task. */
  unitsPerTask: 1_000_000,
  /** Largest Wasm memory a unit may ask for, in 64 KiB pages (1 GiB). */
  memoryPages: 16384,
  /** Longest per-unit time limit a manifest may set. */
  unitTimeMs: 10 * 60 * 1000,
} as const;

/**
 * Every message on the wire: its type name (the `t` field), the version this
 * implementation speaks (the `v` field), and the domain its signature covers.
 * Types without a domain are unsigned (bearer or answered over an
 * authenticated channel). Schemas live in protocol/messages/.
 */
export const MESSAGE_TYPES = {
  offer: { version: 1, domain: 'offer' },
  claim: { version: 1, domain: 'claim' },
  assign: { version: 1, domain: 'assign' },
  // v2 carries the key that opens a result torrent's sealed files; v1 published outputs anyone could fetch and hand in.
  result: { version: 2, domain: 'result' },
  receipt: { version: 1, domain: 'receipt' },
  payment: { version: 1, domain: 'payment' },
  'payment-ok': { version: 1 },
  redeem: { version: 1 },
  'redeem-ok': { version: 1 },
  // v2 names the mint (its id) it is for; v1 named none and could be replayed to any mint with the same admin.
  deposit: { version: 2, domain: 'deposit' },
  'relay-find': { version: 1 },
  'relay-offers': { version: 1 },
  'relay-get': { version: 1 },
  'relay-item': { version: 1 },
  'relay-error': { version: 1 },
  // v2 adds the onion keys, the exit policy, an operator label and the agent; v1 named only the key and the URL.
  'relay-descriptor': { version: 2, domain: 'relay' },
  ack: { version: 1, domain: 'ack' },
  // A slice of an output too large to ride inline, on the task wire before the result that names it (docs/stealth.md).
  'output-part': { version: 1 },
  // Fetching the task torrent's info dictionary and pieces from the tasker over a stealth stream (docs/stealth.md).
  'task-get': { version: 1 },
  'task-block': { version: 1 },
  'task-refused': { version: 1 },
} as const satisfies Record<string, { version: number; domain?: Domain }>;

export type MessageType = keyof typeof MESSAGE_TYPES;

/**
 * Delivering pay. A final receipt is kept by its tasker until its worker
 * acknowledges it (an `ack`), and a blinded output by its worker until the
 * pay for it arrives; neither waits for ever. The worker waits longer than
 * the tasker keeps sending, so a receipt still being sent always finds the
 * outputs it pays.
 */
export const PAY_LIMITS = {
  /** How long a tasker keeps an unacknowledged final receipt. */
  receiptHoldMs: 30 * 24 * 60 * 60 * 1000,
  /** How long a worker keeps a blinded output no pay has answered. */
  pendingOutputMs: 45 * 24 * 60 * 60 * 1000,
} as const;

/** Bounds on message fields, beyond the shared LIMITS above. */
export const MESSAGE_LIMITS = {
  /** BEP 44 refuses a mutable item whose bencoded `v` is 1000 bytes or more. */
  offerBytes: 999,
  /** Capabilities a handshake payload may list, and the longest one. */
  caps: 16,
  capBytes: 32,
  /** Free-text fields. */
  agentBytes: 64,
  nameBytes: 64,
  reasonBytes: 128,
  accountBytes: 64,
  mintUrlBytes: 256,
  /** Blinded outputs, signatures or proofs in one payment or redeem. */
  outputs: 64,
  /** Largest request a browser may send a relay (one WebSocket frame); replies may be up to LIMITS.messageBytes. */
  relayRequestBytes: 8 * 1024,
  /** Offers in one relay-offers answer. */
  relayOffers: 32,
  /** A relay's WebSocket URL in its descriptor. */
  relayUrlBytes: 256,
  /** Onion keys one descriptor lists: the current epoch's and the next's. */
  relayOnionKeys: 2,
  /** Mint origins one exit policy lists, and the longest one (scheme, host and port; no path). */
  relayExitMints: 4,
  relayMintOriginBytes: 64,
  /** A descriptor's operator label: relays under one label are never two hops of one route. */
  relayFamilyBytes: 32,
  /** Signed descriptors in one GET /descriptors answer. */
  relayDescriptors: 64,
  /** A relay-error's code and its human-readable message. */
  relayCodeBytes: 32,
  relayMessageBytes: 256,
} as const;

/**
 * Where an edge relay serves WebRTC signalling (a WebSocket tracker) on its
 * own port: a browser that knows only its relay's ws:// URL appends this.
 */
export const RELAY_SIGNALLING_PATH = '/announce';

/**
 * The BEP 10 extension that carries the handshake, then claim, assign, result and receipt
 * on the BitTorrent wire a worker already has to the tasker in the task's swarm.
 */
export const TASK_EXTENSION = 'sc_task';

/** The BEP 10 extension a tasker's offer endpoint answers on the offer topic. */
export const OFFER_EXTENSION = 'sc_offer';

/**
 * The well-known info-hash taskers announce on so that workers and relays can
 * find them: sha1("sparecycles offers v1"). test/unit/topics.test.ts recomputes it.
 */
export const OFFER_TOPIC_HEX = '1d9e57d4e3453eb6476d316d0fb60fe0f4c3d65b';

/**
 * The well-known info-hash edge relays announce their port on:
 * sha1("sparecycles relays v1"). Each relay also puts its signed
 * relay-descriptor as a BEP 44 item under its key and serves it at
 * GET /descriptor on the announced port; net/relay-sources.ts looks them
 * up here (docs/relay-directory.md).
 */
export const RELAY_TOPIC_HEX = '9fe4b784badeac81c2a07afcb4b33d671c95247e';

/**
 * The codes a relay-error carries. The wire accepts any upper-case code (so a
 * newer relay may add one); these are the ones this implementation sends.
 * A relay-get that finds nothing is not an error: it is a relay-item without
 * an offer.
 */
export const RELAY_ERROR_CODES = [
  /** Not a request this relay understands: undecodable, unknown type or version, bad fields. */
  'BAD_REQUEST',
  /** Over the per-connection or per-IP request budget, or too many lookups in flight. */
  'RATE_LIMITED',
  /** The DHT did not answer in time, or the relay is shutting down. */
  'UNAVAILABLE',
  /** A fault of the relay's own. */
  'INTERNAL',
] as const;

export type RelayErrorCode = (typeof RELAY_ERROR_CODES)[number];
