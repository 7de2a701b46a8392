// A hostile peer sending output parts to a real tasker session over a task
// wire (an in-memory wire into the session's frames, the Noise handshake
// real): parts for a lease it was never given, parts past the task's output
// limit, parts out of order, and a result naming parts that never came. Each
// gets a typed refusal in the tasker's log, the session holds nothing for
// them, keeps running, and an honest worker then finishes the task with the
// exact merge.

import { afterAll, describe, expect, it } from 'vitest';
import { fromHex } from '../../protocol/bytes.ts';
import type { ChannelListener, MessageChannel } from '../../protocol/channel.ts';
import { LIMITS } from '../../protocol/constants.ts';
import { Identity } from '../../protocol/crypto/identity.ts';
import { nodeCrypto as backend } from '../../protocol/crypto/node.ts';
import { sealMessage, sealSigned, type Assign, type Receipt, type Sealed } from '../../protocol/messages/index.ts';
import { SecureInitiator } from '../../protocol/secure-channel.ts';
import type { LogLine } from '../../serve/log.ts';
import { Mesh } from '../../testnet/mesh.ts';
import { waitFor } from '../../testnet/wait.ts';
import { makeLargeOutputTask } from '../support/large-output-task.ts';
import { framePipe } from '../support/task-wire.ts';

let mesh: Mesh | undefined;
afterAll(async () => mesh?.stop());

describe('output parts from a hostile peer', () => {
  it('are refused with typed errors, held nowhere, and cost the task nothing', async () => {
    mesh = await Mesh.start();
    const task = await makeLargeOutputTask(2, 1);
    const logged: LogLine[] = [];
    const session = await mesh.publish(task.dir, { log: (e) => logged.push(e) });
    const refusals = () => logged.filter((e) => e.event === 'bad-message').map((e) => e.code);

    const hostile = Identity.generate(backend);
    const heard: Sealed[] = [];
    let channel: MessageChannel | undefined;
    const listener: ChannelListener = {
      open: (c) => (channel = c),
      message: (_c, sealed) => heard.push(sealed),
      invalid: () => {},
      closed: () => {},
    };
    const secure = new SecureInitiator(
      { backend, identity: hostile, infoHash: () => fromHex(session.infoHash), caps: ['wasm'], agent: 'hostile' },
      listener,
    );
    framePipe(secure.frames, session.frames, ['hostile', 'tasker']);
    secure.start({ key: session.manifest.tasker, noise: session.manifest.noise });
    await waitFor('the handshake', () => channel !== undefined, 10_000);
    const taskId = fromHex(session.infoHash);
    const part = (lease: Uint8Array, index: number, count: number, data = new Uint8Array(LIMITS.inlineOutputBytes).fill(1)) =>
      channel!.send(sealSigned({ t: 'output-part', v: 1, task: taskId, lease, index, count, data }));
    const sign = (m: Parameters<typeof sealMessage>[2]) => channel!.send(sealMessage(backend, hostile.exportSeed(), m));

    // A lease it was never given.
    part(new Uint8Array(16).fill(9), 0, 2);
    await waitFor('the refusal of an unknown lease', () => refusals().length === 1, 5_000);
    expect(refusals()).toEqual(['PROTOCOL']);

    sign({ t: 'claim', v: 1, task: taskId, want: 2, worker: hostile.publicKey, nonce: backend.randomBytes(16) });
    await waitFor('an assign', () => heard.some((s) => s.message.t === 'assign'), 10_000);
    const assign = heard.find((s) => s.message.t === 'assign')!.message as Assign;
    // A young key is handed one unit at first; one is all this needs.
    const [first] = assign.units;

    // Past the task's limit (1 MiB): 30 parts make at least 29 · 48 KiB + 1 bytes.
    part(first!.lease, 0, 30);
    // Out of order: a second part with no first.
    part(first!.lease, 1, 2, new Uint8Array(5));
    await waitFor('both refused', () => refusals().length === 3, 5_000);
    expect(refusals().slice(1)).toEqual(['TOO_LARGE', 'PROTOCOL']);
    expect(session.stats().parts).toEqual({ outputs: 0, bytes: 0 });

    // One part of two, then a result naming two: rejected, and nothing held after.
    part(first!.lease, 0, 2);
    await waitFor('the part held', () => session.stats().parts.outputs === 1, 5_000);
    sign({ t: 'result', v: 2, task: taskId, unit: first!.unit, lease: first!.lease, hash: new Uint8Array(32), runMs: 5, parts: 2, worker: hostile.publicKey });
    await waitFor('a receipt', () => heard.some((s) => s.message.t === 'receipt'), 5_000);
    const receipt = heard.find((s) => s.message.t === 'receipt')!.message as Receipt;
    expect(receipt.status).toBe('rejected');
    expect(receipt.reason).toContain('parts');
    expect(session.stats().parts).toEqual({ outputs: 0, bytes: 0 });
    // Parts for a lease already used are refused too.
    part(first!.lease, 0, 2);
    await waitFor('the refusal of a used lease', () => refusals().length === 4, 5_000);
    expect(session.stats().parts).toEqual({ outputs: 0, bytes: 0 });
    expect(logged.filter((e) => e.level === 'error')).toEqual([]);

    // Nothing was lost: the hostile peer leaves, and an honest worker finishes the task.
    channel!.close();
    secure.stop();
    await mesh.worker(session.magnet);
    const merged = await session.done;
    expect(Buffer.from(merged).equals(task.expected)).toBe(true);
  }, 120_000);
});
