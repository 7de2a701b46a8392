// A bare client of a relay's onion socket, as a worker or a tasker would be
// one: the `ws` package and the link frames of protocol/onion/link.ts, no
// more. It sends packets, opens mailboxes and collects the mail pushed to it.
// Every client made here is closed by closeOnionClients().

import { once } from 'node:events';
import { equalBytes } from '../../protocol/bytes.ts';
import { ONION_RELAY } from '../../protocol/constants.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { decodeLinkFrame, encodeLinkFrame, type LinkFrame, type LinkFrameOf } from '../../protocol/onion/link.ts';
import { WebSocketClient, type WsSocket } from '../../serve/ws.ts';
import { waitFor } from '../../testnet/wait.ts';

const open = new Set<WsSocket>();

export class OnionClient {
  readonly frames: LinkFrame[] = [];
  readonly mail: LinkFrameOf<'mail'>[] = [];

  private constructor(readonly ws: WsSocket) {
    ws.on('message', (data: Buffer) => {
      const frame = decodeLinkFrame(new Uint8Array(data));
      this.frames.push(frame);
      if (frame.t === 'mail') this.mail.push(frame);
    });
  }

  /** Connects to `${relayUrl}/onion` and waits for the relay's challenge, which must name `key` when given. */
  static async connect(relayUrl: string, key?: Uint8Array): Promise<OnionClient> {
    const ws = new WebSocketClient(`${relayUrl}${ONION_RELAY.path}`);
    open.add(ws);
    ws.once('close', () => open.delete(ws));
    const client = new OnionClient(ws);
    await Promise.race([once(ws, 'open'), once(ws, 'error').then(([error]) => Promise.reject(error as Error))]);
    const challenge = await waitFor('the relay challenge', () => client.frames[0], 5000, 5);
    if (challenge.t !== 'challenge') throw new Error(`expected a challenge first, got ${challenge.t}`);
    if (key && !equalBytes(challenge.k, key)) throw new Error('the onion socket answered with another relay’s key');
    return client;
  }

  /** Opens the mailbox of `secret` (a fresh one by default) and resolves with its id. */
  async open(secret: Uint8Array = backend.randomBytes(32)): Promise<Uint8Array> {
    const before = this.frames.length;
    this.ws.send(encodeLinkFrame({ t: 'open', v: 1, x: secret }), { binary: true });
    const opened = await waitFor('the mailbox to open', () => this.frames.slice(before).find((f) => f.t === 'opened'), 5000, 5);
    return (opened as LinkFrameOf<'opened'>).m;
  }

  send(packet: Uint8Array): void {
    this.ws.send(packet, { binary: true });
  }
}

export function closeOnionClients(): void {
  for (const ws of open) ws.terminate();
  open.clear();
}
