// Key sets and the root chain: init refuses to overwrite and writes private keys 0600; rotate makes
// a root the old root's keys vouch for; the chain check enforces both thresholds and versions.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  initKeys,
  loadKeySet,
  parseMetadata,
  rotateKeys,
  serialize,
  updateRoot,
  verifyRootChain,
} from '../../updater/tuf/index.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tuf-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const rootOf = async (p: string) => parseMetadata('root', await readFile(p), p);

describe('keys init', () => {
  it('creates four roles with N keys each, threshold N, private keys 0600 in a 0700 folder', async () => {
    const k = join(dir, 'k3');
    const r = await initKeys({ dir: k, threshold: 3 });
    const root = await rootOf(r.rootPath);
    expect(root.signed.version).toBe(1);
    expect(root.signed.consistentSnapshot).toBe(true);
    for (const role of ['root', 'targets', 'snapshot', 'timestamp']) {
      expect(root.signed.roles[role]!.threshold).toBe(3);
      expect(root.signed.roles[role]!.keyIDs).toHaveLength(3);
    }
    expect(Object.keys(root.signatures)).toHaveLength(3);
    expect((await stat(join(k, 'private'))).mode & 0o777).toBe(0o700);
    const files = await readdir(join(k, 'private'));
    expect(files).toHaveLength(12);
    for (const f of files) expect((await stat(join(k, 'private', f))).mode & 0o777).toBe(0o600);
    // the root verifies against itself (threshold of its own root keys)
    expect(verifyRootChain(root, [], new Date()).root.signed.version).toBe(1);
  });

  it('refuses to overwrite an existing key set and leaves it untouched', async () => {
    const k = join(dir, 'k1');
    await initKeys({ dir: k });
    const before = await readFile(join(k, 'root.json'));
    await expect(initKeys({ dir: k })).rejects.toMatchObject({ code: 'KEYS_EXIST' });
    expect(await readFile(join(k, 'root.json'))).toEqual(before);
    expect(await readdir(join(k, 'private'))).toHaveLength(4);
  });

  it('refuses a nonsense threshold', async () => {
    await expect(initKeys({ dir: join(dir, 'k0'), threshold: 0 })).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe('keys rotate and the root chain', () => {
  it('each rotation is a new root version signed by the old root keys and its own', async () => {
    const k = join(dir, 'rot');
    await initKeys({ dir: k, threshold: 2 });
    const v1 = await rootOf(join(k, 'roots', '1.root.json'));
    await rotateKeys({ dir: k, role: 'root' });
    await rotateKeys({ dir: k, role: 'timestamp' });
    const v2 = await readFile(join(k, 'roots', '2.root.json'));
    const v3 = await readFile(join(k, 'roots', '3.root.json'));
    expect(await readFile(join(k, 'root.json'))).toEqual(v3);
    const chain = verifyRootChain(
      v1,
      [
        { label: '3', bytes: v3 },
        { label: '2', bytes: v2 },
      ],
      new Date(),
    );
    expect(chain.root.signed.version).toBe(3);
    expect(chain.accepted).toHaveLength(2);
    // v2 carries 2 old + 2 new root signatures; new root keys differ from v1's
    const md2 = parseMetadata('root', v2, '2');
    expect(Object.keys(md2.signatures)).toHaveLength(4);
    expect(md2.signed.roles.root!.keyIDs.some((id) => v1.signed.roles.root!.keyIDs.includes(id))).toBe(false);
    // the timestamp rotation replaced exactly the timestamp keys
    const md3 = parseMetadata('root', v3, '3');
    expect(md3.signed.roles.timestamp!.keyIDs).not.toEqual(md2.signed.roles.timestamp!.keyIDs);
    expect(md3.signed.roles.targets!.keyIDs).toEqual(md2.signed.roles.targets!.keyIDs);
    // and the key set now signs timestamps with the new keys only
    const ks = await loadKeySet(k);
    expect(
      ks
        .keysFor('timestamp')
        .map((x) => x.keyId)
        .sort(),
    ).toEqual([...md3.signed.roles.timestamp!.keyIDs].sort());
  });

  it('a new root signed only by its own keys, or below the old threshold, is refused', async () => {
    const k = join(dir, 'rot2');
    await initKeys({ dir: k, threshold: 2 });
    const v1 = await rootOf(join(k, 'root.json'));
    await rotateKeys({ dir: k, role: 'root' });
    const v2 = parseMetadata('root', await readFile(join(k, 'root.json')), 'v2');
    const oldIds = v1.signed.roles.root!.keyIDs;
    const strip = (keep: (id: string) => boolean) => {
      const md = parseMetadata('root', serialize(v2), 'copy');
      md.signatures = Object.fromEntries(Object.entries(md.signatures).filter(([id]) => keep(id)));
      return serialize(md);
    };
    expect(() =>
      updateRoot(
        v1,
        strip((id) => !oldIds.includes(id)),
        'own-only',
      ),
    ).toThrow(expect.objectContaining({ code: 'ROOT_CHAIN_BROKEN' }));
    expect(() =>
      updateRoot(
        v1,
        strip((id) => id !== oldIds[0]),
        'one-old',
      ),
    ).toThrow(expect.objectContaining({ code: 'THRESHOLD_NOT_MET' }));
    expect(() =>
      updateRoot(
        v1,
        strip((id) => oldIds.includes(id)),
        'old-only',
      ),
    ).toThrow(expect.objectContaining({ code: 'THRESHOLD_NOT_MET' }));
  });

  it('a root of the same version that differs from the trusted one is a fork', async () => {
    const v1 = await rootOf(join(dir, 'k1', 'root.json'));
    const k2 = join(dir, 'fork2');
    await initKeys({ dir: k2 });
    const foreign = await readFile(join(k2, 'root.json'));
    expect(() => verifyRootChain(v1, [{ label: 'foreign-1', bytes: foreign }], new Date())).toThrow(
      expect.objectContaining({ code: 'ROOT_CHAIN_BROKEN' }),
    );
    // the very same root again is harmless
    expect(verifyRootChain(v1, [{ label: 'same', bytes: serialize(v1) }], new Date()).accepted).toEqual([]);
  });

  it('rotate refuses an unknown role and a folder without keys', async () => {
    await expect(rotateKeys({ dir: join(dir, 'k1'), role: 'admin' })).rejects.toMatchObject({
      code: 'USAGE',
    });
    await expect(rotateKeys({ dir: join(dir, 'none'), role: 'root' })).rejects.toMatchObject({
      code: 'KEYS_MISSING',
    });
  });
});
