// TUF clients we did not write read a channel that `drydock channel publish` wrote: python-tuf's
// ngclient (PyPI `tuf`) and go-tuf v2's updater (Go module proxy), each a small program in this
// folder that prints one JSON line. The channel is served over HTTP on 127.0.0.1; both clients
// refresh, walk a root rotation, download a target and check its hash, and refuse a tampered
// target and an expired timestamp. The matrix is printed at the end.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshChannel } from '../../updater/channel/index.ts';
import { loadKeySet, newTargets, serialize, tufTime } from '../../updater/tuf/index.ts';
import { writeRelease } from '../bundle/fixtures.ts';
import { type StaticServer, serveDir } from '../channel/server.ts';

const run = promisify(execFile);
const HERE = import.meta.dirname;
const CLI = join(HERE, '..', '..', 'bin', 'drydock.js');
const CACHE = process.env.DRYDOCK_CACHE ?? join(homedir(), '.cache', 'drydock');
const PYTHON = join(CACHE, 'venv-tuf', 'bin', 'python');
const GO_CLIENT = join(CACHE, 'bin', 'go-tuf-client');
const PASSPHRASE = 'correct horse battery staple, interop';

type Step =
  | 'refresh'
  | 'rotation'
  | 'target download'
  | 'tampered target refused'
  | 'expired timestamp refused';
const STEPS: Step[] = [
  'refresh',
  'rotation',
  'target download',
  'tampered target refused',
  'expired timestamp refused',
];

interface ClientResult {
  client: string;
  ok: boolean;
  root_version?: number;
  timestamp_version?: number;
  targets_version?: number;
  target?: { path: string; length: number; sha256: string };
  error?: { kind: string; type: string; message: string };
}

interface Client {
  name: 'python-tuf' | 'go-tuf';
  argv: (args: string[]) => [string, string[]];
}

const CLIENTS: Client[] = [
  { name: 'python-tuf', argv: (a) => [PYTHON, [join(HERE, 'python_tuf_client.py'), ...a]] },
  { name: 'go-tuf', argv: (a) => [GO_CLIENT, a] },
];

let dir: string;
let keys: string;
let repo: string;
let passFile: string;
let server: StaticServer;
let base: string;
const matrix = new Map<string, Map<Step, boolean>>();
const mark = (c: Client, step: Step, ok: boolean) => {
  if (!matrix.has(c.name)) matrix.set(c.name, new Map());
  matrix.get(c.name)!.set(step, ok);
};

async function drydock(args: string[]) {
  const r = await run(process.execPath, [CLI, ...args, '--passphrase-file', passFile, '--json'], {
    cwd: dir,
    env: { ...process.env, DRYDOCK_KEY_PASSPHRASE: '' },
  });
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

async function client(c: Client, args: string[]): Promise<ClientResult> {
  const [cmd, argv] = c.argv(args);
  const r = await run(cmd, argv, { timeout: 60_000 });
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as ClientResult;
}

const refresh = (c: Client, target?: string) =>
  client(c, [
    'refresh',
    '--url',
    base,
    '--metadata-dir',
    join(dir, 'clients', c.name),
    '--root',
    join(keys, 'roots', '1.root.json'),
    ...(target
      ? ['--target', target, '--out', join(dir, 'downloads', c.name, randomBytes(4).toString('hex'))]
      : []),
  ]);

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const currentTargets = async () => {
  const ts = JSON.parse(await readFile(join(repo, 'metadata', 'timestamp.json'), 'utf8'));
  const snap = JSON.parse(
    await readFile(
      join(repo, 'metadata', `${ts.signed.meta['snapshot.json'].version}.snapshot.json`),
      'utf8',
    ),
  );
  const tv = snap.signed.meta['targets.json'].version;
  return JSON.parse(await readFile(join(repo, 'metadata', `${tv}.targets.json`), 'utf8'));
};

beforeAll(async () => {
  if (!existsSync(PYTHON))
    throw new Error(`python-tuf is missing: ${PYTHON} does not exist (run scripts/setup-debian.sh)`);
  // the go client is rebuilt from its source here (seconds with the build cache setup warmed)
  await run('go', ['build', '-o', GO_CLIENT, '.'], { cwd: join(HERE, 'go-tuf-client') }).catch((e) => {
    throw new Error(`go-tuf client build failed (go from scripts/setup-debian.sh): ${e.stderr ?? e.message}`);
  });
  dir = await mkdtemp(join(tmpdir(), 'interop-'));
  keys = join(dir, 'keys');
  repo = join(dir, 'repo');
  passFile = join(dir, 'passphrase');
  await writeFile(passFile, `${PASSPHRASE}\n`, { mode: 0o600 });
  await drydock(['keys', 'init', '--dir', keys]);
  const spec = await writeRelease(join(dir, 'r1'), { version: '1.0.0', webLayer: randomBytes(32 * 1024) });
  await drydock(['release', 'build', '--spec', spec, '--keys', keys, '--out', join(dir, '1.0.0.drydock')]);
  await drydock(['channel', 'publish', join(dir, '1.0.0.drydock'), '--repo', repo, '--keys', keys]);
  server = await serveDir(repo);
  base = server.url.replace(/\/$/, '');
}, 300_000);

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (matrix.size) {
    const rows = [`| client | ${STEPS.join(' | ')} |`, `| --- |${STEPS.map(() => ' --- |').join('')}`];
    for (const [name, m] of matrix)
      rows.push(`| ${name} | ${STEPS.map((s) => (m.get(s) ? 'yes' : 'NO')).join(' | ')} |`);
    console.log(`interop matrix\n${rows.join('\n')}`);
  }
});

describe.each(CLIENTS)('$name against a drydock channel', (c) => {
  it('refreshes from root version 1 and downloads the channel index with the signed hash', async () => {
    const r = await refresh(c, 'stable/index.json');
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ ok: true, root_version: 1, timestamp_version: 1, targets_version: 1 });
    const file = await readFile(join(repo, 'targets', 'stable', 'index.json'));
    const signed = (await currentTargets()).signed.targets['stable/index.json'];
    expect(r.target).toEqual({ path: 'stable/index.json', length: file.length, sha256: sha256(file) });
    expect(r.target!.sha256).toBe(signed.hashes.sha256);
    mark(c, 'refresh', true);
  });

  it('downloads the release document (its notes hold newlines) and checks its hash', async () => {
    const path = 'stable/drydock-demo/1.0.0/release.json';
    const r = await refresh(c, path);
    expect(r.error).toBeUndefined();
    const file = await readFile(join(repo, 'targets', path));
    expect(file.toString()).toContain('\\n');
    expect(r.target).toEqual({ path, length: file.length, sha256: sha256(file) });
    mark(c, 'target download', true);
  });
});

describe('a root rotation reaches both clients through the chain', () => {
  beforeAll(async () => {
    // new root keys (signed by old and new), then new timestamp keys: root v3
    await drydock(['keys', 'rotate', '--dir', keys, '--role', 'root']);
    await drydock(['keys', 'rotate', '--dir', keys, '--role', 'timestamp']);
    await drydock(['channel', 'refresh', '--repo', repo, '--keys', keys]);
  });

  it.each(CLIENTS)('$name moves from its cached root v1 to v3 and verifies the new timestamp', async (c) => {
    const r = await refresh(c, 'stable/index.json');
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ ok: true, root_version: 3, timestamp_version: 2 });
    const cached = JSON.parse(await readFile(join(dir, 'clients', c.name, 'root.json'), 'utf8'));
    expect(cached.signed.version).toBe(3);
    const file = await readFile(join(repo, 'targets', 'stable', 'index.json'));
    expect(r.target!.sha256).toBe(sha256(file));
    mark(c, 'rotation', true);
  });
});

describe('refusals', () => {
  it.each(CLIENTS)('$name refuses a target whose bytes were changed on the server', async (c) => {
    const stable = join(repo, 'targets', 'stable');
    const name = (await readdir(stable)).find((n) => /^[a-f0-9]{64}\.index\.json$/.test(n))!;
    const good = await readFile(join(stable, name));
    const bad = Buffer.from(good);
    bad[bad.length - 2]! ^= 0x01;
    await writeFile(join(stable, name), bad);
    try {
      const r = await refresh(c, 'stable/index.json');
      expect(r.ok).toBe(false);
      expect(r.error?.kind).toBe('hash_mismatch');
      expect(r.target).toBeUndefined();
      mark(c, 'tampered target refused', true);
    } finally {
      await writeFile(join(stable, name), good);
    }
    // and the genuine one is taken again
    expect((await refresh(c, 'stable/index.json')).ok).toBe(true);
  });

  it('both refuse an expired timestamp, and take the next good one', async () => {
    const kp = { keysDir: keys, passphrase: PASSPHRASE };
    // signed two days ago with the one-day timestamp expiry: a newer version, already expired
    await refreshChannel({ repoDir: repo, ...kp, now: new Date(Date.now() - 2 * 86_400_000) });
    for (const c of CLIENTS) {
      const r = await refresh(c);
      expect(r.ok, `${c.name}: ${JSON.stringify(r)}`).toBe(false);
      expect(r.error?.kind, JSON.stringify(r)).toBe('expired');
      expect(r.error?.message).toMatch(/timestamp/i);
      mark(c, 'expired timestamp refused', true);
    }
    await refreshChannel({ repoDir: repo, ...kp });
    for (const c of CLIENTS) expect((await refresh(c, 'stable/index.json')).ok).toBe(true);
  });
});

describe('signed bytes are the canonical JSON the other clients compute', () => {
  // strings with control characters, quotes, backslashes, non-ASCII and astral characters
  const custom = {
    note: 'line 1\nline 2\ttab \u0001\u001f\u007f "quoted" back\\slash',
    'Grüße 日本語': 'emoji 🚢 and U+2028 \u2028 and é',
  };

  async function signedTargets(
    mutate?: (doc: { signed: { targets: Record<string, { custom: unknown }> } }) => void,
  ) {
    const ks = await loadKeySet(keys, { passphrase: PASSPHRASE });
    const md = newTargets(99, tufTime(new Date(Date.now() + 86_400_000)), {
      'odd/name ü\tx.txt': { length: 3, sha256: sha256(Buffer.from('abc')), custom },
    });
    ks.sign('targets', md);
    const doc = JSON.parse(serialize(md).toString('utf8'));
    mutate?.(doc);
    const path = join(dir, `targets-${randomBytes(4).toString('hex')}.json`);
    await mkdir(dir, { recursive: true });
    await writeFile(path, mutate ? JSON.stringify(doc) : serialize(md));
    return path;
  }

  it.each(CLIENTS)(
    '$name verifies our targets signature over such strings, and refuses one changed character',
    async (c) => {
      const root = join(keys, 'root.json');
      const good = await client(c, ['verify', '--root', root, '--targets', await signedTargets()]);
      expect(good.error).toBeUndefined();
      expect(good).toMatchObject({ ok: true, targets_version: 99 });
      const changed = await signedTargets((d) => {
        const t = d.signed.targets['odd/name ü\tx.txt']!;
        t.custom = { ...(t.custom as object), note: custom.note.replace('\n', '\r') };
      });
      const bad = await client(c, ['verify', '--root', root, '--targets', changed]);
      expect(bad.ok).toBe(false);
      expect(bad.error?.kind).toBe('bad_signature');
    },
  );
});

it('every cell of the matrix was reached', () => {
  for (const c of CLIENTS)
    for (const s of STEPS) expect(matrix.get(c.name)?.get(s), `${c.name} × ${s}`).toBe(true);
});
