import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDemo } from '../../examples/demo/index.ts';
import { BlobStore } from '../../updater/blobstore/index.ts';
import { readBundle } from '../../updater/bundle/index.ts';

const tmp = mkdtempSync(join(tmpdir(), 'demo-bundles-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('buildDemo (examples/demo)', () => {
  it('builds signed bundles once, shared by parallel callers, and they verify against the demo root', async () => {
    const cacheDir = join(tmp, 'cache');
    const [a, b] = await Promise.all([buildDemo({ cacheDir }), buildDemo({ cacheDir })]);
    expect(b).toEqual(a);
    const mtime = statSync(a.bundles['1.0.0']).mtimeMs;
    expect((await buildDemo({ cacheDir })).bundles['1.0.0']).toBe(a.bundles['1.0.0']);
    expect(statSync(a.bundles['1.0.0']).mtimeMs).toBe(mtime);

    const store = await new BlobStore(join(tmp, 'blobs')).open();
    const versions: string[] = [];
    for (const v of ['1.0.0', '1.1.0', '1.2.0'] as const) {
      const r = await readBundle(a.bundles[v], { trustedRoot: a.rootPath, blobs: store });
      versions.push(r.release.version);
      expect(r.release.images.map((i) => i.ref)).toEqual([`demo.local/drydock-demo/web:${v}`]);
      expect(r.release.health.probes[0]!.expectBody).toBe(v);
    }
    expect(versions).toEqual(['1.0.0', '1.1.0', '1.2.0']);

    // the delta carries only what 1.0.0 lacks: far smaller than the full 1.1.0 bundle
    const delta = statSync(a.deltas['1.1.0']).size;
    const full = statSync(a.bundles['1.1.0']).size;
    expect(delta).toBeLessThan(full / 10);
    const onlyOld = await new BlobStore(join(tmp, 'blobs-old')).open();
    await readBundle(a.bundles['1.0.0'], { trustedRoot: a.rootPath, blobs: onlyOld });
    const d = await readBundle(a.deltas['1.1.0'], { trustedRoot: a.rootPath, blobs: onlyOld });
    expect(d.release.version).toBe('1.1.0');
  });
});
