// Builds the admin page into web/dist, which the updater service serves at "/" (updater/service/server.ts).
// Run from the repository root: `vite build --config web/vite.config.ts` (npm run build:web).
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  // nothing public to copy; every asset is imported and hashed
  publicDir: false,
  plugins: [preact({ prefreshEnabled: false, devToolsEnabled: false })],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // the page is served with a strict CSP (script-src 'self'): no inline polyfill script
    modulePreload: { polyfill: false },
    // keep small assets as files too (CSP-friendly, cacheable)
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: { host: '127.0.0.1' },
});
