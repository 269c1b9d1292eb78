import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDemoImages, buildDemoLayout } from '../../examples/demo/index.ts';

const tmp = mkdtempSync(join(tmpdir(), 'demo-images-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Manifest {
  config: { digest: string };
  layers: { digest: string }[];
}
const blob = (layout: string, digest: string) => readFileSync(join(layout, 'blobs/sha256', digest.slice(7)));

describe('demo images', () => {
  it('are byte-identical across builds and readable by umoci and skopeo', async () => {
    const a = await buildDemoImages(join(tmp, 'a'));
    const b = await buildDemoImages(join(tmp, 'b'));
    expect(a.manifests.map((m) => m.digest)).toEqual(b.manifests.map((m) => m.digest));
    const tags = execFileSync('umoci', ['ls', '--layout', join(tmp, 'a')], { encoding: 'utf8' })
      .trim()
      .split('\n');
    expect(tags.sort()).toEqual(['web-1.0.0', 'web-1.1.0', 'web-1.2.0']);
    const info = JSON.parse(
      execFileSync('skopeo', ['inspect', `oci:${join(tmp, 'a')}:web-1.1.0`], { encoding: 'utf8' }),
    );
    expect(info.Labels['org.opencontainers.image.version']).toBe('1.1.0');
  });

  it('1.1.0 changes only the page layer; 1.2.0 ships no web.conf', async () => {
    const layout = join(tmp, 'a');
    const [m0, m1, m2] = (await buildDemoImages(layout)).manifests.map(
      (d) => JSON.parse(blob(layout, d.digest).toString()) as Manifest,
    );
    expect(m1!.layers[0]!.digest).toBe(m0!.layers[0]!.digest);
    expect(m1!.layers[1]!.digest).not.toBe(m0!.layers[1]!.digest);
    const list = (m: Manifest) =>
      execFileSync('tar', ['-tzf', join(layout, 'blobs/sha256', m.layers[1]!.digest.slice(7))], {
        encoding: 'utf8',
      });
    expect(list(m1!)).toContain('etc/web/web.conf');
    expect(list(m2!)).not.toContain('etc/web/web.conf');
  });

  it('are cached by content for the specs that point at them', async () => {
    const cacheDir = join(tmp, 'cache');
    const [x, y] = await Promise.all([buildDemoLayout({ cacheDir }), buildDemoLayout({ cacheDir })]);
    expect(x.layoutDir).toBe(y.layoutDir);
    const spec = readFileSync(x.specs['1.2.0'], 'utf8');
    expect(spec).toContain('layout: ../images/oci');
    expect(readFileSync(join(x.layoutDir, 'index.json'), 'utf8')).toContain('web-1.2.0');
  });
});
