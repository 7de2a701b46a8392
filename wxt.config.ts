import { defineConfig } from 'wxt';

export default defineConfig({
  srcDir: 'extension',
  outDir: 'dist/extension',
  // Every dependency is imported by name, so the reader can see it.
  imports: false,
  manifest: {
    name: 'SpareCycles',
    description: 'Share spare CPU with SpareCycles tasks and earn credits.',
    permissions: ['storage', 'offscreen', 'idle', 'power'],
    content_security_policy: {
      // Units are WebAssembly; extension pages may not compile it without this.
      extension_pages: "script-src 'self' 'wasm-unsafe-eval'; object-src 'self';",
    },
  },
});
