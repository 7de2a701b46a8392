// One hop's routing information, as it sits in its slot of beta once the
// hop has removed its layer: what to do with the packet, after how long,
// where to, and the MAC the next hop will check.

import { DecodeError, SchemaError } from '../errors.ts';
import { ADDRESS_BYTES, COMMAND_BYTES, DELAY_BYTES, MAC_BYTES, ROUTING_BYTES, SLOT_BYTES, SURB_ID_BYTES } from './layout.ts';
import { copyBytes } from '../bytes.ts';

/** 0 is no command, so a slot of zeros is never taken for an instruction. */
export const COMMANDS = { forward: 1, deliver: 2, reply: 3 } as const;
export type Command = keyof typeof COMMANDS;

export interface Routing {
  /** forward: to the relay `address`; deliver: the message to `address`; reply: the still-sealed payload to `address`, naming `surbId`. */
  readonly command: Command;
  /** How long to hold the packet first, in milliseconds (0 to 2^32-1). */
  readonly delayMs: number;
  readonly address: Uint8Array;
  /** Zero unless the command is reply. */
  readonly surbId: Uint8Array;
}

export const MAX_DELAY_MS = 0xffffffff;
const NO_SURB = new Uint8Array(SURB_ID_BYTES);

/** Checks a routing the sender asked for; a bad one is the caller's mistake, a SchemaError. */
export function checkRouting(routing: Routing, field: string): void {
  if (!Object.hasOwn(COMMANDS, routing.command)) throw new SchemaError(`${field}: unknown command ${String(routing.command)}`, { field });
  if (!Number.isInteger(routing.delayMs) || routing.delayMs < 0 || routing.delayMs > MAX_DELAY_MS) {
    throw new SchemaError(`${field}: expected a delay from 0 to ${MAX_DELAY_MS} ms, got ${routing.delayMs}`, { field });
  }
  if (!(routing.address instanceof Uint8Array) || routing.address.length !== ADDRESS_BYTES) {
    throw new SchemaError(`${field}: expected a ${ADDRESS_BYTES}-byte address, got ${lengthOf(routing.address)}`, { field });
  }
  if (!(routing.surbId instanceof Uint8Array) || routing.surbId.length !== SURB_ID_BYTES) {
    throw new SchemaError(`${field}: expected a ${SURB_ID_BYTES}-byte reply-block id, got ${lengthOf(routing.surbId)}`, { field });
  }
  if (routing.command !== 'reply' && routing.surbId.some((b) => b !== 0)) {
    throw new SchemaError(`${field}: only a reply names a reply block`, { field });
  }
}

function lengthOf(value: unknown): string {
  return value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
}

/** command ‖ delay ‖ address ‖ surb id ‖ next MAC: one slot. */
export function encodeSlot(routing: Routing, nextMac: Uint8Array): Uint8Array {
  const out = new Uint8Array(SLOT_BYTES);
  out[0] = COMMANDS[routing.command];
  new DataView(out.buffer).setUint32(COMMAND_BYTES, routing.delayMs, false);
  out.set(routing.address, COMMAND_BYTES + DELAY_BYTES);
  out.set(routing.surbId, COMMAND_BYTES + DELAY_BYTES + ADDRESS_BYTES);
  out.set(nextMac, ROUTING_BYTES);
  return out;
}

/**
 * Reads a slot whose MAC has already verified, so anything wrong in it was
 * put there by the sender: still a typed error, never a crash.
 */
export function decodeSlot(slot: Uint8Array): { routing: Routing; nextMac: Uint8Array } {
  const code = slot[0]!;
  const command = (Object.keys(COMMANDS) as Command[]).find((c) => COMMANDS[c] === code);
  if (command === undefined) throw new DecodeError(`routing: unknown command ${code}`, { field: 'command' });
  const view = new DataView(slot.buffer, slot.byteOffset, slot.byteLength);
  const at = COMMAND_BYTES + DELAY_BYTES;
  const surbId = copyBytes(slot, at + ADDRESS_BYTES, ROUTING_BYTES);
  if (command !== 'reply' && surbId.some((b) => b !== 0)) {
    throw new DecodeError(`routing: a ${command} names a reply block`, { field: 'surbId' });
  }
  return {
    routing: {
      command,
      delayMs: view.getUint32(COMMAND_BYTES, false),
      address: copyBytes(slot, at, at + ADDRESS_BYTES),
      surbId: command === 'reply' ? surbId : NO_SURB.slice(),
    },
    nextMac: copyBytes(slot, ROUTING_BYTES, ROUTING_BYTES + MAC_BYTES),
  };
}
