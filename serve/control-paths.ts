// Where a node's control socket and cookie live: in its state folder
// ($SPARECYCLES_HOME), one pair per role, so that `cycles status` finds every
// node running under it without being told.

import { join } from 'node:path';
import { sparecyclesHome } from '../store/keys.ts';

/** The roles that serve the control API, in the order `cycles status` shows them. */
export const CONTROL_ROLES = ['worker', 'publish', 'relay', 'mint'] as const;
export type ControlRole = (typeof CONTROL_ROLES)[number];

export interface ControlPaths {
  socket: string;
  cookieFile: string;
}

export function controlPaths(role: ControlRole, home = sparecyclesHome()): ControlPaths {
  return { socket: join(home, `${role}.sock`), cookieFile: join(home, `${role}.cookie`) };
}

/** The cookie beside a socket given by path: `x.sock` has `x.cookie`, anything else `<path>.cookie`. */
export function cookieFileFor(socket: string): string {
  return socket.endsWith('.sock') ? `${socket.slice(0, -'.sock'.length)}.cookie` : `${socket}.cookie`;
}
