// Puts the demo images (built from busybox-static) into a blob store, as a verified bundle would,
// and reads the demo manifests; lets the driver tests run without the bundle writer.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createReadStream, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildDemoLayout, DEMO_DIR } from '../../examples/demo/index.ts';
import { BlobStore } from '../../updater/blobstore/index.ts';
import type { RenderedManifest } from '../../updater/cluster/index.ts';
import type { ImageRef } from '../../updater/release/index.ts';

interface Desc {
  digest: string;
  size: number;
  mediaType?: string;
  annotations?: Record<string, string>;
}

/** An image of an OCI layout (the demo's by default) as a verified bundle hands it to a driver. */
export async function demoImage(
  store: BlobStore,
  tag: string,
  ref: string,
  layoutDir?: string,
): Promise<ImageRef> {
  layoutDir ??= (await buildDemoLayout()).layoutDir;
  const blob = (d: string) => join(layoutDir, 'blobs', 'sha256', d.slice(7));
  const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as { manifests: Desc[] };
  const m = index.manifests.find((x) => x.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!m) throw new Error(`no ${tag} in the demo layout`);
  const manifest = JSON.parse(await readFile(blob(m.digest), 'utf8')) as { config: Desc; layers: Desc[] };
  const strip = (d: Desc) => ({ digest: d.digest, size: d.size, mediaType: d.mediaType });
  const all = [strip(m), strip(manifest.config), ...manifest.layers.map(strip)];
  for (const d of all) await store.put(d.digest, d.size, createReadStream(blob(d.digest)));
  return {
    ref,
    platform: 'linux/amd64',
    manifest: strip(m),
    config: strip(manifest.config),
    layers: manifest.layers.map(strip),
  };
}

export async function demoManifests(version: string): Promise<RenderedManifest[]> {
  return [
    { name: 'web.yaml', content: await readFile(join(DEMO_DIR, version, 'manifests', 'web.yaml'), 'utf8') },
  ];
}

export async function openStore(dir: string): Promise<BlobStore> {
  return new BlobStore(dir).open();
}

export async function until<T>(
  fn: () => Promise<T>,
  pred: (v: T) => boolean,
  timeoutMs: number,
): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  for (;;) {
    const value = await fn();
    if (pred(value) || Date.now() - start > timeoutMs) return { value, ms: Date.now() - start };
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Debian's containerd with its root, state and socket in `dir` (CRI off: the tests drive it with
 * ctr); resolves once `ctr version` answers. `stop` ends it.
 */
export async function startContainerd(dir: string): Promise<{ sock: string; stop(): Promise<void> }> {
  // a unix socket path must stay under 108 bytes: callers pass a short dir
  const sock = join(dir, 'c.sock');
  writeFileSync(
    join(dir, 'config.toml'),
    `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${sock}"
[ttrpc]
  address = "${sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
`,
  );
  const child: ChildProcess = spawn('containerd', ['--config', join(dir, 'config.toml')], {
    stdio: 'ignore',
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  };
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('ctr', ['--address', sock, 'version'], { stdio: 'ignore' });
      return { sock, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await stop();
  throw new Error('containerd did not start');
}
