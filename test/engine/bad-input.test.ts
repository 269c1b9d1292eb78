// Bad input is refused with a stable code and changes nothing: blobs, releases, snapshots, the
// manifests folder, the running release, the state and the trusted root are as they were.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkK3sSkew, checkUpdatePolicy } from '../../updater/engine/policy.ts';
import { ACTOR, demo, extraBundle, fingerprint, newBox, type TestBox, tamperedBundle } from './helpers.ts';

let box: TestBox;
beforeAll(async () => {
  box = await newBox();
  const b = await box.open();
  await b.install(ACTOR, (await demo()).bundles['1.1.0']);
  await b.close();
});
afterAll(() => box.cleanup());

async function refused(bundle: string, code: string, message?: RegExp) {
  const before = await fingerprint(box.root);
  const b = await box.open();
  const err = await b.install(ACTOR, bundle).then(
    () => null,
    (e) => e,
  );
  await b.close();
  expect(err?.code).toBe(code);
  if (message) expect(err.message).toMatch(message);
  expect(await fingerprint(box.root)).toEqual(before);
}

/** A copy of `src` with one byte flipped in the middle of the entry `pick` chooses. */
const tampered = (src: string, name: string, pick: (e: { name: string; size: number }) => boolean) =>
  tamperedBundle(src, join(box.dir, name), pick);

describe('refused, nothing changed', () => {
  test('a downgrade (1.0.0 while 1.1.0 runs)', async () => {
    await refused((await demo()).bundles['1.0.0'], 'DOWNGRADE_REFUSED', /lower than the running 1\.1\.0/);
  });

  test('the running version again', async () => {
    await refused((await demo()).bundles['1.1.0'], 'DOWNGRADE_REFUSED', /already running/);
  });

  test('upgradeFrom does not match the running version', async () => {
    const b = await extraBundle(box.dir, '1.5.0', { upgradeFrom: '>=1.2.0 <1.5.0' });
    await refused(b, 'UPGRADE_PATH_INVALID', /upgrades from ">=1\.2\.0 <1\.5\.0"/);
  });

  test('a tampered blob (a byte of an image layer flipped)', async () => {
    const b = await tampered((await demo()).bundles['1.2.0'], 'tampered-blob.drydock', (e) =>
      e.name.startsWith('blobs/'),
    );
    await refused(b, 'BLOB_DIGEST_MISMATCH');
  });

  test('a tampered release.json (its signed hash no longer matches)', async () => {
    const b = await tampered(
      (await demo()).bundles['1.2.0'],
      'tampered-release.drydock',
      (e) => e.name === 'release.json',
    );
    const before = await fingerprint(box.root);
    const bx = await box.open();
    const err = await bx.install(ACTOR, b).catch((e) => e);
    await bx.close();
    expect(err.code).toMatch(/^(BUNDLE_SIGNATURE_INVALID|SIGNATURE_INVALID|METADATA_INVALID)$/);
    expect(await fingerprint(box.root)).toEqual(before);
  });

  test('tampered targets metadata (signature no longer valid)', async () => {
    const b = await tampered(
      (await demo()).bundles['1.2.0'],
      'tampered-targets.drydock',
      (e) => e.name === 'metadata/targets.json',
    );
    const before = await fingerprint(box.root);
    const bx = await box.open();
    const err = await bx.install(ACTOR, b).catch((e) => e);
    await bx.close();
    expect(err.code).toMatch(/SIGNATURE|THRESHOLD|METADATA/);
    expect(await fingerprint(box.root)).toEqual(before);
  });

  test('not a bundle, and no file at all', async () => {
    const junk = join(box.dir, 'junk.drydock');
    await writeFile(junk, 'x'.repeat(4096));
    await refused(junk, 'BUNDLE_NOT_A_BUNDLE');
    await refused(join(box.dir, 'missing.drydock'), 'NOT_FOUND');
  });

  test('k3s more than one minor up is refused; one minor is accepted', async () => {
    const b13 = await extraBundle(box.dir, '1.3.0', { k3s: 'v1.31.4+k3s1' });
    const bx = await box.open();
    expect((await bx.install(ACTOR, b13)).outcome).toBe('committed');
    await bx.close();
    const b14 = await extraBundle(box.dir, '1.4.0', { k3s: 'v1.33.0+k3s1' });
    await refused(b14, 'K3S_SKEW', /more than one minor/);
  });
});

describe('policy rules', () => {
  const rel = (version: string, upgradeFrom: string, k3s?: string) =>
    ({ name: 'drydock-demo', version, upgradeFrom, ...(k3s ? { k3s: { version: k3s } } : {}) }) as never;
  const running = { name: 'drydock-demo', version: '1.1.0', k3sVersion: 'v1.31.4+k3s1' };
  test('versions, ranges, names, k3s skew', () => {
    expect(() => checkUpdatePolicy(running, rel('1.2.0', '>=1.0.0'))).not.toThrow();
    expect(() => checkUpdatePolicy(running, rel('1.0.9', '>=1.0.0'))).toThrow(/lower/);
    expect(() => checkUpdatePolicy(running, rel('2.0.0', '^2'))).toThrow(/upgrades from/);
    expect(() => checkUpdatePolicy({ ...running, name: 'other' }, rel('1.2.0', '*'))).toThrow(
      /not for this box/,
    );
    expect(() => checkUpdatePolicy(running, rel('1.2.0', '*', 'v1.32.0+k3s1'))).not.toThrow();
    expect(() => checkUpdatePolicy(running, rel('1.2.0', '*', 'v1.33.0+k3s1'))).toThrow(/one minor/);
    expect(() => checkK3sSkew('v1.31.4+k3s1', 'v1.30.9+k3s1')).toThrow(/one minor/);
    expect(() => checkK3sSkew(null, 'v1.33.0+k3s1')).not.toThrow();
    expect(() => checkUpdatePolicy(null, rel('0.0.1', '>=9'))).not.toThrow();
  });
});
