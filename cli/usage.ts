import { SpareCyclesError, type ErrorDetails } from '../protocol/errors.ts';

/** A mistake in how a command was called: printed with its usage, exit status 2. */
export class UsageError extends SpareCyclesError {
  constructor(message: string, details?: ErrorDetails) {
    super('USAGE', message, details);
  }
}

export function parseCpu(text: string): number {
  const cpu = Number(text);
  if (!(cpu > 0 && cpu <= 1)) throw new UsageError(`--cpu: expected a fraction in (0, 1], got ${text}`);
  return cpu;
}
