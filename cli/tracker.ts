import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { TrackerServer } from '../tracker/tracker.ts';
import { waitForSignal } from './signals.ts';
import { UsageError } from './usage.ts';

export const usage = 'cycles tracker [--port 8000] [--host 0.0.0.0]';

/** Prints the HTTP, UDP and WS announce URLs on stdout, one a line; logs JSON lines on stderr; stops on SIGINT/SIGTERM. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string' }, host: { type: 'string' } } });
  const port = Number(values.port ?? '8000');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected 0..65535, got ${values.port}`);
  // Operators want every interface; tests and cautious users narrow it with --host 127.0.0.1.
  const host = values.host ?? '0.0.0.0';
  if (!isIP(host)) throw new UsageError(`--host: expected an IP address, got ${host}`);

  const tracker = new TrackerServer({ port, host });
  await tracker.start();
  const { http, udp, ws } = tracker.urls;
  process.stdout.write(`${http}\n${udp}\n${ws}\n`);

  const signal = await waitForSignal();
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', event: 'signal', signal })}\n`);
  await tracker.stop();
  return 0;
}
