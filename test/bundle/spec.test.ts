// The release spec: good specs parse; bad ones name the file and line, and `release build` writes nothing.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle, parseSpec } from '../../updater/bundle/index.ts';
import { initKeys } from '../../updater/tuf/index.ts';
import { writeRelease } from './fixtures.ts';

let dir: string;
let keys: string;
let spec: string;
let good: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spec-'));
  keys = join(dir, 'keys');
  await initKeys({ dir: keys });
  spec = await writeRelease(join(dir, 'rel'), { version: '1.2.3' });
  good = await (await import('node:fs/promises')).readFile(spec, 'utf8');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Writes a variant of the good spec, expects `code` and a message naming release.yaml:<line>. */
async function refused(
  change: (s: string) => string,
  code: string,
  line: number,
  text: RegExp,
  atParse = true,
) {
  const path = join(dir, 'rel', 'release.yaml');
  await writeFile(path, change(good));
  try {
    if (atParse) await expect(parseSpec(path)).rejects.toMatchObject({ code });
    const out = join(dir, 'out.drydock');
    const err = await buildBundle({ specPath: path, keysDir: keys, outPath: out }).catch((e) => e);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(new RegExp(`release\\.yaml:${line}: `));
    expect(err.message).toMatch(text);
    // nothing written: no bundle, no temp file beside it
    expect((await readdir(dir)).sort()).toEqual(['keys', 'rel']);
  } finally {
    await writeFile(path, good);
  }
}

describe('release spec', () => {
  it('parses the good spec with files resolved relative to it', async () => {
    const p = await parseSpec(spec);
    expect(p.spec.version).toBe('1.2.3');
    expect(p.manifests.map((m) => m.name)).toEqual(['web.yaml']);
    expect(p.images.map((i) => i.tag)).toEqual(['base', 'web']);
    expect(p.notes).toContain('# 1.2.3');
    expect(p.spec.health.probes[0]!.expectStatus).toBe(200); // default applied
  });
  it('a bad semver version', () =>
    refused((s) => s.replace('version: 1.2.3', 'version: 1.2.x'), 'SPEC_INVALID', 2, /not a semver version/));
  it('a version YAML reads as a number', () =>
    refused(
      (s) => s.replace('version: 1.2.3', 'version: 1.2'),
      'SPEC_INVALID',
      2,
      /\/version Expected string/,
    ));
  it('a bad upgradeFrom range', () =>
    refused(
      (s) => s.replace(/upgradeFrom: .*/, 'upgradeFrom: "not a range ~~"'),
      'SPEC_INVALID',
      4,
      /semver range/,
    ));
  it('a missing manifest file', () =>
    refused(
      (s) => s.replace('manifests/web.yaml', 'manifests/gone.yaml'),
      'SPEC_FILE_MISSING',
      12,
      /gone\.yaml does not exist/,
    ));
  it('a missing image layout', () =>
    refused(
      (s) => s.replace('layout: images/oci\n    tag: web', 'layout: images/none\n    tag: web'),
      'SPEC_FILE_MISSING',
      10,
      /images\/none/,
    ));
  it('a missing notes file', () =>
    refused(
      (s) => s.replace('notes: notes.md', 'notes: missing.md'),
      'SPEC_FILE_MISSING',
      17,
      /missing\.md/,
    ));
  it('an unknown field, with its own line', () =>
    refused(
      (s) => s.replace('  deadlineSeconds: 20', '  deadlineSeconds: 20\n  colour: blue'),
      'SPEC_INVALID',
      15,
      /\/health\/colour/,
    ));
  it('a wrong type', () =>
    refused(
      (s) => s.replace('deadlineSeconds: 20', 'deadlineSeconds: soon'),
      'SPEC_INVALID',
      14,
      /deadlineSeconds/,
    ));
  it('YAML that does not parse', () =>
    refused(
      (s) => s.replace('manifests: [manifests/web.yaml]', 'manifests: [manifests/web.yaml'),
      'SPEC_INVALID',
      13,
      /./,
    ));
  it('an image tag the layout does not hold', () =>
    refused((s) => s.replace('tag: web', 'tag: nope'), 'IMAGE_INVALID', 9, /no image named "nope"/, false));
  it('a manifest that is not YAML', async () => {
    const m = join(dir, 'rel', 'manifests', 'web.yaml');
    const fs = await import('node:fs/promises');
    const orig = await fs.readFile(m);
    await fs.writeFile(m, 'a: [unclosed\n');
    try {
      await refused((s) => s, 'SPEC_INVALID', 12, /not valid YAML/, false);
    } finally {
      await fs.writeFile(m, orig);
    }
  });
});
