import { defineConfig } from 'wxt';

// A build for a private network (the tests, the local demo) names its own
// relays and trackers, so that the extension knows nothing else
// (extension/lib/shipped-network.ts), and may go to a folder of its own.
const builtIn = (value: string | undefined) => (value === undefined ? 'undefined' : JSON.stringify(value));
const network = {
  __SPARECYCLES_RELAYS__: builtIn(process.env.SPARECYCLES_RELAYS),
  __SPARECYCLES_TRACKERS__: builtIn(process.env.SPARECYCLES_TRACKERS),
};

export default defineConfig({
  srcDir: 'extension',
  outDir: process.env.SPARECYCLES_EXTENSION_OUT ?? 'dist/extension',
  vite: () => ({ define: network }),
  // Every dependency is imported by name, so the reader can see it.
  imports: false,
  manifest: ({ browser }) => ({
    name: 'SpareCycles',
    description: 'Share spare CPU with SpareCycles tasks and earn credits.',
    // Firefox runs the engine in its background page: it has no offscreen
    // documents (and no `power` API), and warns about permissions it does not know.
    permissions: browser === 'firefox' ? ['storage', 'idle'] : ['storage', 'offscreen', 'idle', 'power'],
    content_security_policy: {
      // Units are WebAssembly; extension pages may not compile it without this.
      extension_pages: "script-src 'self' 'wasm-unsafe-eval'; object-src 'self';",
    },
    ...(browser === 'firefox'
      ? {
          // A fixed add-on id: storage.local belongs to the id, so a temporary
          // add-on without one would start with empty storage at each load.
          browser_specific_settings: { gecko: { id: 'sparecycles@sparecycles.invalid' } },
        }
      : {}),
  }),
});
