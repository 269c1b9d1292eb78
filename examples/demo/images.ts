// The demo backend's image "web", in three versions, built from Debian's busybox-static:
//   layer 1 (shared by all versions): /bin/busybox + the applets the image uses, /etc, /tmp
//   layer 2 (per version): the page /www/index.html showing the version, and /etc/web/web.conf
// 1.1.0 changes only layer 2 (so the 1.0.0→1.1.0 delta is the page, config and manifest).
// 1.2.0 forgets /etc/web/web.conf: its start script exits 1 at once, so it never becomes ready.
// That failure is in the image content; nothing keys on the version string.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DrydockError } from '../../core/index.ts';
import { type ImageSpec, type LayerEntry, writeLayout } from '../../updater/oci/index.ts';

export const DEMO_VERSIONS = ['1.0.0', '1.1.0', '1.2.0'] as const;
export type DemoVersion = (typeof DEMO_VERSIONS)[number];
export const DEFAULT_BUSYBOX = '/bin/busybox';

const APPLETS = ['sh', 'httpd', 'wget', 'cat', 'echo', 'sleep', 'test', '['];

const START = `#!/bin/sh
# Starts the demo page server with the settings shipped in /etc/web/web.conf.
if [ ! -r /etc/web/web.conf ]; then
  echo "web: /etc/web/web.conf is missing, cannot start" >&2
  exit 1
fi
. /etc/web/web.conf
echo "web $VERSION listening on :$PORT"
exec /bin/busybox httpd -f -p "$PORT" -h /www
`;

function page(version: string, colour: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drydock demo ${version}</title></head>
<body style="font-family: sans-serif; background: ${colour}">
<h1>Drydock demo backend</h1>
<p>version <strong id="version">${version}</strong></p>
</body></html>
`;
}

function baseLayer(busybox: Buffer): LayerEntry[] {
  return [
    { path: 'bin', type: 'dir' },
    { path: 'bin/busybox', type: 'file', mode: 0o755, content: busybox },
    ...APPLETS.map((a): LayerEntry => ({ path: `bin/${a}`, type: 'symlink', target: 'busybox' })),
    { path: 'bin/start-web', type: 'file', mode: 0o755, content: START },
    { path: 'etc', type: 'dir' },
    {
      path: 'etc/passwd',
      type: 'file',
      content: 'root:x:0:0:root:/:/bin/sh\nwww:x:1000:1000:www:/www:/bin/false\n',
    },
    { path: 'etc/group', type: 'file', content: 'root:x:0:\nwww:x:1000:\n' },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
  ];
}

function pageLayer(version: string, colour: string, withConfig: boolean): LayerEntry[] {
  const layer: LayerEntry[] = [
    { path: 'www', type: 'dir' },
    { path: 'www/index.html', type: 'file', content: page(version, colour) },
  ];
  if (withConfig)
    layer.push(
      { path: 'etc/web', type: 'dir' },
      { path: 'etc/web/web.conf', type: 'file', content: `PORT=8080\nVERSION=${version}\n` },
    );
  return layer;
}

function demoImageSpecs(busybox: Buffer): ImageSpec[] {
  const base = baseLayer(busybox);
  const config = (version: string): ImageSpec['config'] => ({
    Entrypoint: ['/bin/start-web'],
    Env: ['PATH=/bin'],
    WorkingDir: '/',
    ExposedPorts: { '8080/tcp': {} },
    Labels: {
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.title': 'drydock demo web',
    },
  });
  return [
    { tag: 'web-1.0.0', layers: [base, pageLayer('1.0.0', '#e8f1fb', true)], config: config('1.0.0') },
    { tag: 'web-1.1.0', layers: [base, pageLayer('1.1.0', '#eafbe8', true)], config: config('1.1.0') },
    // the release engineer moved the settings file into a ConfigMap "later" and forgot it here
    { tag: 'web-1.2.0', layers: [base, pageLayer('1.2.0', '#fbeae8', false)], config: config('1.2.0') },
  ];
}

export async function readBusybox(path = DEFAULT_BUSYBOX): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new DrydockError(
      'BUILD_INPUT_MISSING',
      `${path} not found: install Debian's busybox-static (apt-get install busybox-static)`,
      { cause: err },
    );
  }
}

/** Builds the three demo images into an OCI image-layout folder. */
export async function buildDemoImages(layoutDir: string, busyboxPath = DEFAULT_BUSYBOX) {
  const busybox = await readBusybox(busyboxPath);
  const manifests = await writeLayout(layoutDir, demoImageSpecs(busybox));
  return { layoutDir, manifests, busyboxSha256: createHash('sha256').update(busybox).digest('hex') };
}
