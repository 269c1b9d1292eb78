// Builds the demo images into examples/demo/images/oci (what the release specs point at):
//   npx tsx examples/demo/build-images.ts [--busybox /bin/busybox]
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDemoImages, DEFAULT_BUSYBOX } from './images.ts';

const args = process.argv.slice(2);
const i = args.indexOf('--busybox');
const busybox = i >= 0 && args[i + 1] ? args[i + 1]! : DEFAULT_BUSYBOX;
const out = join(dirname(fileURLToPath(import.meta.url)), 'images', 'oci');
const r = await buildDemoImages(out, busybox);
for (const m of r.manifests)
  console.log(`${m.annotations?.['org.opencontainers.image.ref.name']}  ${m.digest}`);
console.log(`written to ${out}`);
