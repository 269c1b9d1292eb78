// The demo database image demo.local/drydock-demo/postgres:15 (tag postgres-15 in the demo OCI
// layout), made from this machine's Debian packages the way images.ts makes "web" from busybox:
// no registry, no base image. Three layers, each a set of files copied as they are on the host:
//   1. the shared libraries the PostgreSQL programs load (found with ldd: real files and the
//      symlinks that name them, /lib -> usr/lib included) and the UTC zone file (Debian's
//      PostgreSQL is built against the system tzdata, /usr/share/zoneinfo)
//   2. postgresql-15: postgres, initdb, pg_ctl, psql, pg_isready, the modules in
//      /usr/lib/postgresql/15/lib and /usr/share/postgresql/15 (without man pages)
//   3. busybox (the shell initdb needs for popen, and su to drop root), /etc/passwd and /etc/group
//      with postgres (uid 999), /tmp, and the entrypoint /usr/local/bin/start-postgres
// The writer (updater/oci/write.ts) fixes mtimes and owners and sorts entries, so the same Debian
// package versions give the same digests.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DrydockError } from '../../core/index.ts';
import { type Descriptor, type ImageSpec, type LayerEntry, writeLayout } from '../../updater/oci/index.ts';
import { DEFAULT_BUSYBOX, readBusybox } from './images.ts';

export const POSTGRES_IMAGE = 'demo.local/drydock-demo/postgres:15';
export const POSTGRES_TAG = 'postgres-15';
export const POSTGRES_UID = 999;

export interface PostgresSources {
  /** postgresql-15's program folder (bin/, lib/) */
  pgDir: string;
  /** postgresql-15's data files (postgres.bki, extension/, timezonesets/ ...) */
  shareDir: string;
  busybox: string;
  /** the zone file initdb and postgres load for TZ=UTC */
  zoneinfo: string[];
}

export const DEFAULT_POSTGRES_SOURCES: PostgresSources = {
  pgDir: '/usr/lib/postgresql/15',
  shareDir: '/usr/share/postgresql/15',
  busybox: DEFAULT_BUSYBOX,
  zoneinfo: ['/usr/share/zoneinfo/UTC'],
};

const BINARIES = ['postgres', 'initdb', 'pg_ctl', 'psql', 'pg_isready'];
// llvmjit.so would pull in libLLVM-14 (~100 MB) for the JIT, which the entrypoint turns off;
// bitcode/ is the JIT's input and pgxs/ is for building extensions
const LIB_SKIP = new Set(['llvmjit.so', 'llvmjit_types.bc', 'bitcode', 'pgxs']);
const SHARE_SKIP = new Set(['man']);
const APPLETS = [
  'sh',
  'cat',
  'chmod',
  'chown',
  'echo',
  'env',
  'id',
  'kill',
  'ls',
  'mkdir',
  'mktemp',
  'printf',
  'ps',
  'rm',
  'sleep',
  'stat',
  'su',
  'test',
  '[',
];

// As root (the default in containerd and the stand-in) it makes PGDATA and the socket folder the
// postgres user's and runs itself again as postgres: postgres refuses to run as root. A pod with
// runAsUser: 999 skips that part. PGDATA is a folder below the volume's mount point, so a volume
// whose root holds lost+found is still an empty data folder to initdb.
const START = `#!/bin/sh
# Starts PostgreSQL 15 on 0.0.0.0:5432, running initdb first when PGDATA holds no cluster.
set -e
PGDATA="\${PGDATA:-/var/lib/postgresql/data/pgdata}"
export PGDATA
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql /dev/shm
  [ "$(stat -c %u "$PGDATA")" = ${POSTGRES_UID} ] || chown -R postgres:postgres "$PGDATA"
  chown postgres:postgres /run/postgresql
  exec su -p -s /bin/sh postgres -c 'exec "$0" "$@"' "$0" "$@"
fi
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -n "$POSTGRES_PASSWORD" ]; then
    # the password is the postgres role's, checked with scram-sha-256 from any address
    pwfile="$(mktemp)"
    printf '%s\\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -U postgres -E UTF8 --locale=C --auth-local=trust --auth-host=scram-sha-256 --pwfile="$pwfile"
    rm -f "$pwfile"
    echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "host all all ::/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  else
    # no password: trust on 127.0.0.1 and on the pod network only (k3s's default cluster CIDR
    # unless POSTGRES_TRUST_CIDR says otherwise). Good enough for the demo, never for real data.
    echo "start-postgres: POSTGRES_PASSWORD is not set: trusting 127.0.0.1 and \${POSTGRES_TRUST_CIDR:-10.42.0.0/16}" >&2
    initdb -U postgres -E UTF8 --locale=C --auth-local=trust --auth-host=trust
    echo "host all all \${POSTGRES_TRUST_CIDR:-10.42.0.0/16} trust" >>"$PGDATA/pg_hba.conf"
  fi
fi
# on the command line, not in postgresql.conf: a new image's settings hold for old data folders too
exec postgres -c listen_addresses='*' -c port=5432 -c unix_socket_directories=/run/postgresql -c jit=off "$@"
`;

type Entries = Map<string, LayerEntry>;

/**
 * Adds a host path to the layer as it is: each folder on the way, and each symlink on the way
 * (kept as a symlink, then followed), so /lib/x86_64-linux-gnu/libz.so.1 brings lib -> usr/lib,
 * the libz.so.1 symlink and the real libz.so.1.2.13.
 */
async function addPath(out: Entries, abs: string, hops = 0): Promise<void> {
  if (hops > 40) throw new DrydockError('BUILD_INPUT_MISSING', `${abs}: too many symlinks`);
  const parts = abs.split('/').filter(Boolean);
  let cur = '';
  for (let i = 0; i < parts.length; i++) {
    cur = `${cur}/${parts[i]}`;
    const rel = cur.slice(1);
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(cur);
    } catch (err) {
      throw new DrydockError(
        'BUILD_INPUT_MISSING',
        `${cur} not found: install Debian's postgresql (apt-get install postgresql)`,
        { cause: err },
      );
    }
    if (st.isSymbolicLink()) {
      const target = await readlink(cur);
      out.set(rel, { path: rel, type: 'symlink', target });
      return addPath(out, resolve(dirname(cur), target, ...parts.slice(i + 1)), hops + 1);
    }
    if (st.isDirectory()) {
      if (!out.has(rel)) out.set(rel, { path: rel, type: 'dir', mode: st.mode & 0o7777 });
    } else if (i === parts.length - 1 && st.isFile()) {
      out.set(rel, { path: rel, type: 'file', mode: st.mode & 0o7777, content: await readFile(cur) });
    } else throw new DrydockError('BUILD_INPUT_MISSING', `${cur} is neither a file nor a folder`);
  }
}

/** Every file below dir (symlinks included, not followed), except the names in skip at its top. */
async function listTree(dir: string, skip: Set<string>): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, top: boolean) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (top && skip.has(e.name)) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p, false);
      else out.push(p);
    }
  };
  await walk(dir, true);
  return out.sort();
}

/** The shared libraries ldd says these ELF files load (the dynamic loader included). */
export async function sharedLibraries(files: string[], ldd = 'ldd'): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(ldd, files, { maxBuffer: 16 << 20 }));
  } catch (err) {
    throw new DrydockError('BUILD_INPUT_MISSING', `${ldd} failed on the PostgreSQL programs`, { cause: err });
  }
  const libs = new Set<string>();
  for (const line of stdout.split('\n')) {
    if (/=>\s+not found/.test(line))
      throw new DrydockError('BUILD_INPUT_MISSING', `a library is missing on this machine: ${line.trim()}`);
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s+(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.add(m[1]!);
  }
  return [...libs].sort();
}

function hashEntries(layers: LayerEntry[][]): string {
  const h = createHash('sha256');
  for (const layer of layers)
    for (const e of [...layer].sort((a, b) => (a.path < b.path ? -1 : 1))) {
      h.update(`${e.type}\0${e.path}\0${'mode' in e ? (e.mode ?? '') : ''}\0`);
      if (e.type === 'symlink') h.update(e.target);
      if (e.type === 'file') h.update(e.content);
      h.update('\0');
    }
  return h.digest('hex');
}

/** The image's layers and config from the host's files; sha256 covers every byte that goes in. */
export async function postgresImageSpec(
  sources: PostgresSources = DEFAULT_POSTGRES_SOURCES,
): Promise<{ spec: ImageSpec; sha256: string }> {
  const pg: Entries = new Map();
  const programs = BINARIES.map((b) => join(sources.pgDir, 'bin', b));
  const modules = (await listTree(join(sources.pgDir, 'lib'), LIB_SKIP)).filter((f) => f.endsWith('.so'));
  for (const f of [...programs, ...modules, ...(await listTree(sources.shareDir, SHARE_SKIP))])
    await addPath(pg, f);

  const libs: Entries = new Map();
  for (const f of [...(await sharedLibraries([...programs, ...modules])), ...sources.zoneinfo])
    await addPath(libs, f);

  const busybox = await readBusybox(sources.busybox);
  const tools: LayerEntry[] = [
    { path: 'bin', type: 'dir' },
    { path: 'bin/busybox', type: 'file', mode: 0o755, content: busybox },
    ...APPLETS.map((a): LayerEntry => ({ path: `bin/${a}`, type: 'symlink', target: 'busybox' })),
    { path: 'etc', type: 'dir' },
    {
      path: 'etc/passwd',
      type: 'file',
      content: `root:x:0:0:root:/root:/bin/sh\npostgres:x:${POSTGRES_UID}:${POSTGRES_UID}:PostgreSQL:/var/lib/postgresql:/bin/sh\n`,
    },
    { path: 'etc/group', type: 'file', content: `root:x:0:\npostgres:x:${POSTGRES_UID}:\n` },
    { path: 'root', type: 'dir', mode: 0o700 },
    { path: 'run', type: 'dir' },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'usr', type: 'dir' },
    { path: 'usr/local', type: 'dir' },
    { path: 'usr/local/bin', type: 'dir' },
    { path: 'usr/local/bin/start-postgres', type: 'file', mode: 0o755, content: START },
    { path: 'var', type: 'dir' },
    { path: 'var/lib', type: 'dir' },
    { path: 'var/lib/postgresql', type: 'dir' },
    { path: 'var/lib/postgresql/data', type: 'dir' },
    // libpq's compiled-in socket folder is /var/run/postgresql: psql finds the server without -h
    { path: 'var/run', type: 'symlink', target: '../run' },
  ];
  const layers = [[...libs.values()], [...pg.values()], tools];
  // StopSignal: SIGTERM is PostgreSQL's "smart" shutdown, which waits for every client to leave;
  // SIGINT is the fast one (ImageSpec's config type does not name it; the writer keeps it)
  const config: ImageSpec['config'] & { StopSignal: string } = {
    Entrypoint: ['/usr/local/bin/start-postgres'],
    Env: [
      `PATH=${join(sources.pgDir, 'bin')}:/bin`,
      'PGDATA=/var/lib/postgresql/data/pgdata',
      // psql and pg_isready run as root by `kubectl exec` / `ctr tasks exec`: connect as postgres
      'PGUSER=postgres',
      'TZ=UTC',
    ],
    WorkingDir: '/',
    ExposedPorts: { '5432/tcp': {} },
    StopSignal: 'SIGINT',
    Labels: {
      'org.opencontainers.image.version': '15',
      'org.opencontainers.image.title': 'drydock demo postgres',
    },
  };
  return { spec: { tag: POSTGRES_TAG, layers, config }, sha256: hashEntries(layers) };
}

/** Writes postgres-15 into an OCI image-layout folder (created or extended, other tags kept). */
export async function buildPostgresImage(
  layoutDir: string,
  sources: PostgresSources = DEFAULT_POSTGRES_SOURCES,
): Promise<{ layoutDir: string; manifest: Descriptor; inputsSha256: string }> {
  const { spec, sha256 } = await postgresImageSpec(sources);
  const [manifest] = await writeLayout(layoutDir, [spec]);
  return { layoutDir, manifest: manifest!, inputsSha256: sha256 };
}
