// Durability that is claimed is checked from outside, with a real tracer: `strace` (Debian) around
// the real CLI while it initialises a box and installs an update on the stand-in. Every rename
// onto a path that must survive a power cut (blobs, release folders, the trusted root, config.yaml,
// initial-admin.json, snapshot indexes, the stand-in's state) has its source fsynced before and the
// target's folder fsynced after; the state database's WAL is fsynced.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo, type Demo } from '../../examples/demo/index.ts';

const run = promisify(execFile);
let demo: Demo;
let dir: string;
let root: string;

function strace(): string {
  for (const p of ['/usr/bin/strace', '/bin/strace']) if (existsSync(p)) return p;
  throw new Error('strace is not installed: scripts/setup-debian.sh installs it (Debian package strace)');
}

interface Event {
  kind: 'fsync' | 'rename';
  path: string;
  to?: string;
}

/** fsync/fdatasync (with -y paths) and successful renames, in the order they happened. */
function parse(text: string): Event[] {
  const out: Event[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\d+\s+/, '');
    let m = /^f(?:data)?sync\(\d+<(.+)>\) = 0/.exec(line);
    if (m) {
      out.push({ kind: 'fsync', path: m[1]! });
      continue;
    }
    m = /^rename\("([^"]+)", "([^"]+)"\) = 0/.exec(line);
    if (!m)
      m =
        /^renameat2?\((?:AT_FDCWD|\d+<[^>]*>), "([^"]+)", (?:AT_FDCWD|\d+<[^>]*>), "([^"]+)"(?:, \w+)?\) = 0/.exec(
          line,
        );
    if (m) out.push({ kind: 'rename', path: m[1]!, to: m[2]! });
  }
  return out;
}

async function traced(args: string[]): Promise<Event[]> {
  const log = join(dir, `trace-${Date.now()}.txt`);
  await run(
    strace(),
    [
      '-f',
      '--detach-on=execve',
      '-qq',
      '-y',
      '-o',
      log,
      '-e',
      'trace=fsync,fdatasync,rename,renameat,renameat2',
      'node',
      'bin/drydock.js',
      ...args,
    ],
    { maxBuffer: 64 << 20, env: { ...process.env, DRYDOCK_STANDIN_LEASE_MS: '60000' } },
  );
  return parse(await readFile(log, 'utf8'));
}

/** The renames that claim durability, and what was missing around each. */
function check(events: Event[]): { checked: string[]; missing: string[] } {
  const claimed = [
    /\/var\/lib\/drydock\/blobs\//,
    /\/var\/lib\/drydock\/releases\/[^/]+$/,
    /\/var\/lib\/drydock\/snapshots\/[^/]+\/snapshot\.json$/,
    /\/var\/lib\/drydock\/secrets\/initial-admin\.json$/,
    /\/etc\/drydock\/root\.json$/,
    /\/etc\/drydock\/config\.yaml$/,
    /\/standin\/state\.json$/,
  ];
  const checked: string[] = [];
  const missing: string[] = [];
  events.forEach((e, i) => {
    if (e.kind !== 'rename' || !claimed.some((r) => r.test(e.to!))) return;
    checked.push(e.to!);
    const before = events.slice(0, i).some((x) => x.kind === 'fsync' && x.path === e.path);
    const after = events.slice(i + 1).some((x) => x.kind === 'fsync' && x.path === dirname(e.to!));
    if (!before) missing.push(`${e.path} → ${e.to}: source not fsynced before the rename`);
    if (!after) missing.push(`${e.to}: folder ${dirname(e.to!)} not fsynced after the rename`);
  });
  return { checked, missing };
}

beforeAll(async () => {
  strace();
  demo = await buildDemo();
  dir = await mkdtemp(join(tmpdir(), 'drydock-fsync-'));
  root = join(dir, 'box');
}, 300_000);

afterAll(async () => {
  if (root) await run('node', ['bin/drydock.js', 'update', 'status', '--root', root]).catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe('fsync before and after every durable rename (strace)', () => {
  it('box init and an update install', async () => {
    const pw = join(dir, 'pw');
    await writeFile(pw, 'a deployer password\n', { mode: 0o600 });
    const init = await traced([
      'box',
      'init',
      '--root',
      root,
      '--trust',
      demo.rootPath,
      '--release',
      demo.bundles['1.0.0'],
      '--cluster',
      'standin',
      '--admin-password-file',
      pw,
    ]);
    const update = await traced(['update', 'install', demo.bundles['1.1.0'], '--root', root]);
    const all = [...init, ...update];
    const { checked, missing } = check(all);
    expect(missing).toEqual([]);
    // the trace did see the writes it claims to check (a trace of nothing would pass the above)
    for (const what of [
      '/blobs/',
      '/releases/',
      '/etc/drydock/root.json',
      '/etc/drydock/config.yaml',
      '/snapshots/',
      'initial-admin.json',
    ])
      expect(
        checked.some((p) => p.includes(what)),
        what,
      ).toBe(true);
    expect(all.some((e) => e.kind === 'fsync' && e.path.endsWith('/var/lib/drydock/state.db-wal'))).toBe(
      true,
    );
  }, 300_000);

  it('the checker finds a rename without fsync (control on a synthetic trace)', () => {
    const bad = parse(
      [
        '100 fsync(5</b/var/lib/drydock/blobs/.x.tmp>) = 0',
        '100 rename("/b/var/lib/drydock/blobs/.x.tmp", "/b/var/lib/drydock/blobs/sha256/x") = 0',
        '100 rename("/b/etc/drydock/.c.tmp", "/b/etc/drydock/config.yaml") = 0',
      ].join('\n'),
    );
    expect(check(bad).missing).toEqual([
      '/b/var/lib/drydock/blobs/sha256/x: folder /b/var/lib/drydock/blobs/sha256 not fsynced after the rename',
      '/b/etc/drydock/.c.tmp → /b/etc/drydock/config.yaml: source not fsynced before the rename',
      '/b/etc/drydock/config.yaml: folder /b/etc/drydock not fsynced after the rename',
    ]);
  });
});
