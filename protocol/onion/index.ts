// The onion packet format (docs/onion.md): Sphinx packets of one size over
// X25519, built by a sender, peeled one hop at a time by relays, and
// answered through single-use reply blocks.

export { createPacket, type ForwardSpec, type Outgoing } from './packet.ts';
export { type OnionHop } from './header.ts';
export { processPacket, type OnionKeyring, type ProcessOptions, type Processed } from './process.ts';
export { createSurb, decodeSurb, encodeSurb, openReply, replyPacket, SURB_BYTES, type Surb, type SurbSecrets, type SurbSpec } from './surb.ts';
export { MemoryReplayStore, type ReplayStore } from './replay.ts';
export { COMMANDS, MAX_DELAY_MS, type Command } from './routing.ts';
export { HEADER_BYTES, MAX_MESSAGE_BYTES, OVERHEAD, PAYLOAD_BYTES } from './layout.ts';
