// Builds the admin page into web/dist, which the updater service serves at "/" (seam 11).
// Run from the repository root: `vite build --config web/vite.config.ts` (npm run build:web).
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import preact from '@preact/preset-vite';
import { defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Writes .gz and .br next to every text asset so the service can send them precompressed
 * (@fastify/static `preCompressed: true`): the box spends no CPU compressing per request.
 */
function precompress(): Plugin {
  let outDir = '';
  return {
    name: 'drydock-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = join(config.root, config.build.outDir);
    },
    async closeBundle() {
      const walk = async (dir: string): Promise<string[]> => {
        const out: string[] = [];
        for (const e of await readdir(dir, { withFileTypes: true })) {
          const p = join(dir, e.name);
          if (e.isDirectory()) out.push(...(await walk(p)));
          else if (/\.(html|js|css|svg|json|txt)$/.test(e.name)) out.push(p);
        }
        return out;
      };
      for (const file of await walk(outDir)) {
        const body = await readFile(file);
        await writeFile(`${file}.gz`, gzipSync(body, { level: 9 }));
        await writeFile(
          `${file}.br`,
          brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
        );
      }
    },
  };
}

export default defineConfig({
  root,
  base: '/',
  // nothing public to copy; every asset is imported and hashed
  publicDir: false,
  plugins: [preact({ prefreshEnabled: false, devToolsEnabled: false }), precompress()],
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
