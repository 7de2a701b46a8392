// Where every field of an onion packet sits. The sizes follow from three
// numbers in the constants table (the packet size, the version and the most
// hops a route may have) and from the field widths here; docs/onion.md
// draws the same picture.
//
//   packet  = header ‖ payload                       (ONION.packetBytes)
//   header  = version ‖ epoch ‖ alpha ‖ beta ‖ gamma
//   beta    = maxHops slots, each routing ‖ next gamma
//   routing = command ‖ delay ‖ address ‖ surb id

import { ONION } from '../constants.ts';

export const VERSION_BYTES = 1;
/** The onion-key epoch, a big-endian 32-bit number. */
export const EPOCH_BYTES = 4;
/** An X25519 public key: the packet's blinded ephemeral key. */
export const ALPHA_BYTES = 32;
/** HMAC-SHA256 cut to 128 bits (docs/onion.md says why that is enough). */
export const MAC_BYTES = 16;

export const COMMAND_BYTES = 1;
/** How long the hop holds the packet, in milliseconds, big-endian 32 bits. */
export const DELAY_BYTES = 4;
/** The next relay's id, or where the last hop delivers. */
export const ADDRESS_BYTES = 32;
/** Which reply block a reply answers; zero everywhere else. */
export const SURB_ID_BYTES = 16;

export const ROUTING_BYTES = COMMAND_BYTES + DELAY_BYTES + ADDRESS_BYTES + SURB_ID_BYTES;
/** One hop's share of beta: its routing and the MAC of the next hop's header. */
export const SLOT_BYTES = ROUTING_BYTES + MAC_BYTES;
export const BETA_BYTES = ONION.maxHops * SLOT_BYTES;

export const EPOCH_OFFSET = VERSION_BYTES;
export const ALPHA_OFFSET = EPOCH_OFFSET + EPOCH_BYTES;
export const BETA_OFFSET = ALPHA_OFFSET + ALPHA_BYTES;
/** Everything before gamma is what gamma authenticates. */
export const GAMMA_OFFSET = BETA_OFFSET + BETA_BYTES;
export const HEADER_BYTES = GAMMA_OFFSET + MAC_BYTES;

export const PAYLOAD_BYTES = ONION.packetBytes - HEADER_BYTES;
/** The payload's leading zeros: the end of a route checks them. */
export const ZERO_TAG_BYTES = 16;
/** The message's length, big-endian 16 bits, after the zero tag. */
export const LENGTH_BYTES = 2;
/** The longest message one packet carries. */
export const MAX_MESSAGE_BYTES = PAYLOAD_BYTES - ZERO_TAG_BYTES - LENGTH_BYTES;

/** The share of a packet that is not message: header, zero tag and length, the same for every route length. */
export const OVERHEAD = (ONION.packetBytes - MAX_MESSAGE_BYTES) / ONION.packetBytes;
