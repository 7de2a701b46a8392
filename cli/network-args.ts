// The network flags every role shares: --tracker (repeatable) and
// --dht-bootstrap. With no bootstrap list a role joins the public mainline
// DHT, as real users do; tests and the demo always pass a private one.

import { parseBootstrap } from '../net/dht.ts';
import type { DhtConfig } from '../net/dht.ts';
import { UsageError } from './usage.ts';

export const networkOptions = {
  tracker: { type: 'string', multiple: true },
  'dht-bootstrap': { type: 'string' },
  'no-dht': { type: 'boolean' },
} as const;

export interface NetworkArgs {
  trackers: string[];
  dht: false | DhtConfig;
  /** Every address given is on this machine: keep off LAN discovery and public STUN. */
  loopback: boolean;
}

const LOCAL = /^(127\.\d+\.\d+\.\d+|localhost|\[?::1\]?)$/;

/** Whether a host name or address is this machine's loopback. */
export function isLocalHost(host: string): boolean {
  return LOCAL.test(host);
}

export function networkArgs(values: { tracker?: string[]; 'dht-bootstrap'?: string; 'no-dht'?: boolean }): NetworkArgs {
  const trackers = values.tracker ?? [];
  for (const url of trackers) {
    if (!/^(https?|udp|wss?):\/\/[^\s]+$/.test(url)) throw new UsageError(`--tracker: expected a tracker URL, got ${url}`);
  }
  let bootstrap: string[] | undefined;
  try {
    bootstrap = values['dht-bootstrap'] === undefined ? undefined : parseBootstrap(values['dht-bootstrap']);
  } catch (error) {
    throw new UsageError(`--dht-bootstrap: ${(error as Error).message}`);
  }
  const hosts = [...trackers.map((u) => new URL(u).hostname), ...(bootstrap ?? []).map((b) => b.slice(0, b.lastIndexOf(':')))];
  const loopback = bootstrap !== undefined && hosts.length > 0 && hosts.every(isLocalHost);
  const dht: false | DhtConfig = values['no-dht'] ? false : { ...(bootstrap ? { bootstrap } : {}) };
  return { trackers, dht, loopback };
}
