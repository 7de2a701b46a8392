/** Chromium flags for tests on this machine: no sandbox (root), and no calls to the closed network. */
export function chromiumArgs(extra: string[] = []): string[] {
  return [
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
    '--disable-default-apps',
    '--disable-gpu',
    ...extra,
  ];
}
