// Keys at rest: `keys init` seals private keys with a passphrase given by file or environment
// (never an argument), every signing command opens them the same way, a plain key from an older
// folder still loads with a warning, a wrong passphrase is its own code, and --signer CMD signs
// with a key that is not in the folder (here openssl, standing in for an HSM).
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandSigner } from '../../cli/keyaccess.ts';
import {
  initKeys,
  loadKeySet,
  newTargets,
  parseMetadata,
  rotateKeys,
  serialize,
  tufTime,
  verifyRootChain,
} from '../../updater/tuf/index.ts';
import { writeRelease } from '../bundle/fixtures.ts';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'drydock.js');
const SIGNER = join(import.meta.dirname, 'openssl-signer.sh');
const PASS = 'a long passphrase — with non-ASCII ü';

async function drydock(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await run(process.execPath, [CLI, ...args], {
      cwd: dir,
      env: { ...process.env, DRYDOCK_KEY_PASSPHRASE: '', ...env },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyaccess-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const targetsMd = () => newTargets(1, tufTime(new Date(Date.now() + 86_400_000)), {});

describe('sealed key files', () => {
  it('init with a passphrase writes no plain key material; the set signs only with the passphrase', async () => {
    const k = join(dir, 'sealed');
    const r = await initKeys({ dir: k, threshold: 2, passphrase: PASS });
    expect(r.encrypted).toBe(true);
    const files = await readdir(join(k, 'private'));
    expect(files).toHaveLength(8);
    for (const f of files) {
      expect(f).toMatch(/^[0-9a-f]{64}\.key$/);
      expect((await stat(join(k, 'private', f))).mode & 0o777).toBe(0o600);
      const text = await readFile(join(k, 'private', f), 'utf8');
      expect(text).not.toMatch(/PRIVATE KEY|MC4CAQAwBQYDK2Vw/);
      expect(JSON.parse(text)).toMatchObject({ format: 'drydock-sealed-key', kdf: { name: 'scrypt' } });
    }
    const ks = await loadKeySet(k, { passphrase: PASS });
    const md = targetsMd();
    ks.sign('targets', md);
    expect(Object.keys(md.signatures)).toHaveLength(2);
    const root = ks.root.signed;
    for (const id of Object.keys(md.signatures))
      expect(() => root.keys[id]!.verifySignature(md)).not.toThrow();
  });

  it('no passphrase is KEY_PASSPHRASE_MISSING, a wrong one KEY_PASSPHRASE_WRONG', async () => {
    const k = join(dir, 'sealed');
    await expect(loadKeySet(k)).rejects.toMatchObject({ code: 'KEY_PASSPHRASE_MISSING' });
    await expect(loadKeySet(k, { passphrase: 'not it' })).rejects.toMatchObject({
      code: 'KEY_PASSPHRASE_WRONG',
    });
    // NFC and NFD spellings of the same passphrase open the same keys
    await expect(loadKeySet(k, { passphrase: PASS.normalize('NFD') })).resolves.toBeTruthy();
  });

  it('a sealed file under another key ID, or with a changed byte, does not open', async () => {
    const k = join(dir, 'swap');
    await initKeys({ dir: k, passphrase: PASS });
    const ks = await loadKeySet(k, { passphrase: PASS });
    const [a, b] = [ks.keysFor('targets')[0]!.keyId, ks.keysFor('snapshot')[0]!.keyId];
    const p = (id: string) => join(k, 'private', `${id}.key`);
    const [ta, tb] = [await readFile(p(a)), await readFile(p(b))];
    await writeFile(p(a), tb);
    await expect(loadKeySet(k, { passphrase: PASS })).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' });
    const doc = JSON.parse(ta.toString());
    const c = Buffer.from(doc.ciphertext, 'base64');
    c[5]! ^= 1;
    doc.ciphertext = c.toString('base64');
    await writeFile(p(a), JSON.stringify(doc));
    await writeFile(p(b), tb);
    await expect(loadKeySet(k, { passphrase: PASS })).rejects.toMatchObject({ code: 'KEY_PASSPHRASE_WRONG' });
  });

  it('a plain PEM key set (older folders) still loads and signs, with one warning', async () => {
    const k = join(dir, 'plain');
    await initKeys({ dir: k });
    const warnings: string[] = [];
    const ks = await loadKeySet(k, { warn: (m) => warnings.push(m) });
    ks.sign('targets', targetsMd());
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/unencrypted/);
  });

  it('rotating a sealed set seals the new keys and refuses to run without the passphrase', async () => {
    const k = join(dir, 'sealed');
    await expect(rotateKeys({ dir: k, role: 'timestamp' })).rejects.toMatchObject({
      code: 'KEY_PASSPHRASE_MISSING',
    });
    await rotateKeys({ dir: k, role: 'timestamp', passphrase: PASS });
    const files = await readdir(join(k, 'private'));
    expect(files).toHaveLength(10);
    expect(files.every((f) => f.endsWith('.key'))).toBe(true);
  });
});

describe('the CLI reads the passphrase from a file or the environment, never an argument', () => {
  it('keys init refuses to write plain keys unless told --unencrypted', async () => {
    const r = await drydock(['keys', 'init', '--dir', 'cli-none']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^drydock: KEY_PASSPHRASE_MISSING: /);
    const u = await drydock(['keys', 'init', '--dir', 'cli-plain', '--unencrypted', '--json']);
    expect(u.code).toBe(0);
    expect(JSON.parse(u.stdout)).toMatchObject({ ok: true, encrypted: false });
  });

  it('there is no --passphrase argument', async () => {
    const r = await drydock(['keys', 'init', '--dir', 'cli-arg', '--passphrase', PASS]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown option '--passphrase'/);
  });

  it('environment and file both work; build, verify, rotate all open the keys; a wrong passphrase is exit 1', async () => {
    const env = { DRYDOCK_KEY_PASSPHRASE: PASS };
    expect((await drydock(['keys', 'init', '--dir', 'cli-env', '--json'], env)).stdout).toMatch(
      /"encrypted":true/,
    );
    const passFile = join(dir, 'pass.txt');
    await writeFile(passFile, `${PASS}\n`, { mode: 0o600 });
    const spec = await writeRelease(join(dir, 'rel'), { version: '1.0.0' });
    const build = await drydock([
      'release',
      'build',
      '--spec',
      spec,
      '--keys',
      'cli-env',
      '--out',
      'a.drydock',
      '--passphrase-file',
      passFile,
    ]);
    expect(build.code, build.stderr).toBe(0);
    const verify = await drydock(['release', 'verify', 'a.drydock', '--root', 'cli-env/root.json']);
    expect(verify.code, verify.stderr).toBe(0);
    const rot = await drydock(['keys', 'rotate', '--dir', 'cli-env', '--role', 'targets'], env);
    expect(rot.code, rot.stderr).toBe(0);
    const wrong = await drydock(['keys', 'rotate', '--dir', 'cli-env', '--role', 'targets'], {
      DRYDOCK_KEY_PASSPHRASE: 'wrong',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^drydock: KEY_PASSPHRASE_WRONG: [^\n]+\n$/);
    const none = await drydock([
      'release',
      'build',
      '--spec',
      spec,
      '--keys',
      'cli-env',
      '--out',
      'b.drydock',
    ]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/KEY_PASSPHRASE_MISSING/);
  });

  it('a plain key folder still works from the CLI, with a warning on stderr', async () => {
    const spec = await writeRelease(join(dir, 'rel-plain'), { version: '1.0.0' });
    const r = await drydock([
      'release',
      'build',
      '--spec',
      spec,
      '--keys',
      'cli-plain',
      '--out',
      'p.drydock',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/drydock: warning: .*unencrypted private keys/);
  });
});

describe('--signer CMD: keys held outside the folder', () => {
  let keys: string;
  let hsm: string;
  let ids: { root: string; targets: string };
  beforeAll(async () => {
    keys = join(dir, 'hsm-keys');
    hsm = join(dir, 'hsm');
    await initKeys({ dir: keys });
    await mkdir(hsm, { mode: 0o700 });
    const ks = await loadKeySet(keys);
    ids = { root: ks.keysFor('root')[0]!.keyId, targets: ks.keysFor('targets')[0]!.keyId };
    // the root and targets keys move into the "HSM": the key folder keeps only their public halves
    for (const id of Object.values(ids))
      await rename(join(keys, 'private', `${id}.pem`), join(hsm, `${id}.pem`));
  });

  it('signs through openssl with the key ID as argument and the bytes on stdin, hex or base64', async () => {
    for (const b64 of ['', '1']) {
      process.env.SIGNER_KEYS = hsm;
      process.env.SIGNER_BASE64 = b64;
      try {
        const ks = await loadKeySet(keys, { signer: commandSigner(`sh ${SIGNER}`) });
        expect(ks.keysFor('targets')).toHaveLength(0);
        const md = targetsMd();
        ks.sign('targets', md);
        expect(Object.keys(md.signatures)).toEqual([ids.targets]);
        expect(() => ks.root.signed.keys[ids.targets]!.verifySignature(md)).not.toThrow();
      } finally {
        delete process.env.SIGNER_KEYS;
        delete process.env.SIGNER_BASE64;
      }
    }
  });

  it('without a signer the missing keys are KEYS_MISSING; a signer with the wrong key is SIGNER_FAILED', async () => {
    const ks = await loadKeySet(keys);
    expect(() => ks.sign('targets', targetsMd())).toThrow(expect.objectContaining({ code: 'KEYS_MISSING' }));
    // an "HSM" that signs with the root key whatever it is asked
    const liar = join(dir, 'liar');
    await mkdir(liar);
    await writeFile(join(liar, `${ids.targets}.pem`), await readFile(join(hsm, `${ids.root}.pem`)));
    process.env.SIGNER_KEYS = liar;
    try {
      const bad = await loadKeySet(keys, { signer: commandSigner(`sh ${SIGNER}`) });
      expect(() => bad.sign('targets', targetsMd())).toThrow(
        expect.objectContaining({ code: 'SIGNER_FAILED' }),
      );
      const failing = await loadKeySet(keys, { signer: commandSigner('false') });
      expect(() => failing.sign('targets', targetsMd())).toThrow(
        expect.objectContaining({ code: 'SIGNER_FAILED' }),
      );
    } finally {
      delete process.env.SIGNER_KEYS;
    }
  });

  it('the CLI signs a release and a root rotation through --signer; boxes accept both', async () => {
    const env = { SIGNER_KEYS: hsm };
    const spec = await writeRelease(join(dir, 'rel-hsm'), { version: '1.0.0' });
    const b = await drydock(
      ['release', 'build', '--spec', spec, '--keys', keys, '--out', 'h.drydock', '--signer', `sh ${SIGNER}`],
      env,
    );
    expect(b.code, b.stderr).toBe(0);
    const v = await drydock(['release', 'verify', 'h.drydock', '--root', join(keys, 'roots', '1.root.json')]);
    expect(v.code, v.stderr).toBe(0);
    const r = await drydock(
      ['keys', 'rotate', '--dir', keys, '--role', 'snapshot', '--signer', `sh ${SIGNER}`],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    const v1 = parseMetadata('root', await readFile(join(keys, 'roots', '1.root.json')), 'v1');
    const v2 = await readFile(join(keys, 'roots', '2.root.json'));
    expect(verifyRootChain(v1, [{ label: 'v2', bytes: v2 }], new Date()).root.signed.version).toBe(2);
    expect(Object.keys(parseMetadata('root', v2, 'v2').signatures)).toEqual([ids.root]);
    // the HSM keys never entered the key folder
    const held = await readdir(join(keys, 'private'));
    expect(held.some((f) => f.startsWith(ids.root) || f.startsWith(ids.targets))).toBe(false);
    expect(serialize(parseMetadata('root', v2, 'v2'))).toEqual(v2);
  });
});
