// The Grafana plugin carrier: a small image (Debian's busybox-static + the unpacked plugin under
// /plugins/<id>/) that Grafana's init container copies from, so the box downloads nothing at run
// time. Built reproducibly into an OCI image layout; its manifest digest goes into images.lock.yaml.
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { DrydockError } from '../../core/index.ts';
import { type LayerEntry, writeLayout } from '../../updater/oci/index.ts';

async function tree(dir: string, prefix: string): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [{ path: prefix, type: 'dir' }];
  const walk = async (d: string) => {
    for (const n of (await readdir(d)).sort()) {
      const p = join(d, n);
      const rel = join(prefix, relative(dir, p));
      const st = await lstat(p);
      if (st.isSymbolicLink()) out.push({ path: rel, type: 'symlink', target: await readlink(p) });
      else if (st.isDirectory()) {
        out.push({ path: rel, type: 'dir' });
        await walk(p);
      } else if (st.isFile())
        // plugin backends are executables (gpx_*): keep the exec bits, drop the rest
        out.push({
          path: rel,
          type: 'file',
          mode: st.mode & 0o111 ? 0o755 : 0o644,
          content: await readFile(p),
        });
    }
  };
  await walk(dir);
  return out;
}

export async function buildPluginImage(opts: {
  /** unpacked plugin folders (each with plugin.json), e.g. grafana-clickhouse-datasource/ */
  pluginDirs: string[];
  /** OCI image-layout folder to write (created or extended) */
  out: string;
  tag: string;
  busybox?: string;
}): Promise<{ digest: string; tag: string; plugins: string[] }> {
  if (opts.pluginDirs.length === 0) throw new DrydockError('USAGE', 'give at least one plugin folder');
  const layer: LayerEntry[] = [];
  const plugins: string[] = [];
  for (const dir of opts.pluginDirs) {
    let meta: { id?: unknown };
    try {
      meta = JSON.parse(await readFile(join(dir, 'plugin.json'), 'utf8')) as { id?: unknown };
    } catch {
      throw new DrydockError(
        'SPEC_INVALID',
        `${dir} is not an unpacked Grafana plugin (no readable plugin.json)`,
      );
    }
    const id = typeof meta.id === 'string' && /^[a-z0-9][a-z0-9-]*$/.test(meta.id) ? meta.id : null;
    if (!id) throw new DrydockError('SPEC_INVALID', `${dir}/plugin.json has no valid "id"`);
    plugins.push(id);
    layer.push(...(await tree(dir, `plugins/${id}`)));
  }
  const bbPath = opts.busybox ?? '/bin/busybox';
  const busybox = await readFile(bbPath).catch(() => {
    throw new DrydockError('BUILD_INPUT_MISSING', `${bbPath} not found: install Debian's busybox-static`);
  });
  const base: LayerEntry[] = [
    { path: 'bin', type: 'dir' },
    { path: 'bin/busybox', type: 'file', mode: 0o755, content: busybox },
    ...['sh', 'cp', 'ls'].map((a): LayerEntry => ({ path: `bin/${a}`, type: 'symlink', target: 'busybox' })),
    { path: 'plugins', type: 'dir' },
  ];
  const [desc] = await writeLayout(opts.out, [
    {
      tag: opts.tag,
      layers: [base, layer.filter((e, i, all) => all.findIndex((x) => x.path === e.path) === i)],
      config: {
        Cmd: ['/bin/sh'],
        Env: ['PATH=/bin'],
        Labels: { 'org.opencontainers.image.title': `Grafana plugins: ${plugins.join(', ')}` },
      },
    },
  ]);
  return { digest: desc!.digest, tag: opts.tag, plugins: plugins.map((p) => basename(p)) };
}
