import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadBackendRenderer } from '../../appliance/index.ts';
import { makeRoot } from './helpers.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe('the Grafana plugin carrier image', () => {
  it('is an OCI image skopeo and umoci read, with the plugin (exec bits kept) and busybox cp', async () => {
    const { root: work, cleanup } = makeRoot();
    cleanups.push(cleanup);
    const plugin = join(work, 'grafana-clickhouse-datasource');
    mkdirSync(join(plugin, 'img'), { recursive: true });
    writeFileSync(
      join(plugin, 'plugin.json'),
      JSON.stringify({ id: 'grafana-clickhouse-datasource', type: 'datasource' }),
    );
    writeFileSync(join(plugin, 'module.js'), 'export {}');
    writeFileSync(join(plugin, 'gpx_clickhouse_linux_amd64'), '#!/bin/sh\n');
    chmodSync(join(plugin, 'gpx_clickhouse_linux_amd64'), 0o700);
    const R = await loadBackendRenderer();
    const layout = join(work, 'layout');
    const r = await R.buildPluginImage({ pluginDirs: [plugin], out: layout, tag: 'grafana-plugins' });
    expect(r.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // the digest is the manifest's, as a registry would report it after a push
    const raw = execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:grafana-plugins`]);
    expect(`sha256:${createHash('sha256').update(raw).digest('hex')}`).toBe(r.digest);
    execFileSync('umoci', [
      'unpack',
      '--rootless',
      '--image',
      `${layout}:grafana-plugins`,
      join(work, 'bundle'),
    ]);
    const fs = join(work, 'bundle/rootfs');
    expect(
      JSON.parse(readFileSync(join(fs, 'plugins/grafana-clickhouse-datasource/plugin.json'), 'utf8')).id,
    ).toBe('grafana-clickhouse-datasource');
    expect(
      statSync(join(fs, 'plugins/grafana-clickhouse-datasource/gpx_clickhouse_linux_amd64')).mode & 0o777,
    ).toBe(0o755);
    expect(statSync(join(fs, 'plugins/grafana-clickhouse-datasource/module.js')).mode & 0o777).toBe(0o644);
    // what the init container runs: cp from /plugins, through busybox
    execFileSync(join(fs, 'bin/busybox'), ['cp', '-R', join(fs, 'plugins/.'), join(work, 'copied')]);
    expect(readFileSync(join(work, 'copied/grafana-clickhouse-datasource/module.js'), 'utf8')).toBe(
      'export {}',
    );
    // reproducible: the same input gives the same digest
    const again = await R.buildPluginImage({
      pluginDirs: [plugin],
      out: join(work, 'layout2'),
      tag: 'grafana-plugins',
    });
    expect(again.digest).toBe(r.digest);
  });

  it('refuses a folder that is not a plugin', async () => {
    const { root: work, cleanup } = makeRoot();
    cleanups.push(cleanup);
    const R = await loadBackendRenderer();
    await expect(
      R.buildPluginImage({ pluginDirs: [work], out: join(work, 'l'), tag: 't' }),
    ).rejects.toMatchObject({
      code: 'SPEC_INVALID',
    });
  });
});
