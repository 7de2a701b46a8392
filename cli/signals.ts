/** Resolves on the first SIGINT or SIGTERM, so a long-running command can shut down cleanly. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
}

export interface StopSignal {
  /** Aborts on the first SIGINT or SIGTERM: hand it to work that waits (a DHT lookup, a wait for the DHT to join), so it ends at once. */
  signal: AbortSignal;
  /** Resolves with the signal that arrived. */
  received: Promise<NodeJS.Signals>;
}

/** The first SIGINT or SIGTERM, both as a promise and as an AbortSignal. */
export function stopSignal(): StopSignal {
  const controller = new AbortController();
  const received = waitForSignal().then((signal) => {
    controller.abort();
    return signal;
  });
  return { signal: controller.signal, received };
}

/** Waits `ms`, or less if `signal` aborts first; keeps no timer behind. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
