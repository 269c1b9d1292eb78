// The build's outside inputs (k3s binary, k3s airgap images): a local path for offline builds, or a
// pinned download (url + sha256 in images/inputs.lock.json) verified while it streams to the cache.
// With neither, a strict build stops and names what to provide; a demo/CI build goes on and says
// plainly what it left out.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { DrydockError } from '../../core/index.ts';

const Pinned = Type.Object({
  url: Type.String(),
  sha256: Type.Union([Type.String({ pattern: '^[0-9a-f]{64}$' }), Type.Null()]),
});
export const InputsLock = Type.Object({
  $comment: Type.Optional(Type.String()),
  k3s: Type.Object({ version: Type.String(), binary: Pinned, airgapImages: Pinned }),
});
export type InputsLock = Static<typeof InputsLock>;

export async function readInputsLock(path: string): Promise<InputsLock> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new DrydockError(
      'CONFIG_INVALID',
      `cannot read the inputs lock ${path}: ${(err as Error).message}`,
    );
  }
  if (!Value.Check(InputsLock, raw)) {
    const first = [...Value.Errors(InputsLock, raw)][0];
    throw new DrydockError(
      'CONFIG_INVALID',
      `inputs lock ${path}: ${first?.path || '/'} ${first?.message ?? 'is invalid'}`,
    );
  }
  return raw;
}

interface ResolvedInput {
  what: string;
  path: string | null;
  sha256?: string;
  source: 'local' | 'pinned' | 'none';
  /** when path is null: what to provide, in one line */
  missing?: string;
}

export interface ResolvedInputs {
  k3sVersion: string;
  k3sBinary: ResolvedInput;
  k3sImages: ResolvedInput;
  /** one line per input the build goes without */
  omitted: string[];
}

type Fetch = (url: string) => Promise<Response>;

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  const { createReadStream } = await import('node:fs');
  for await (const c of createReadStream(path) as AsyncIterable<Buffer>) h.update(c);
  return h.digest('hex');
}

async function download(fetchFn: Fetch, url: string, sha256: string, cacheDir: string): Promise<string> {
  const dest = join(cacheDir, 'downloads', sha256);
  if (await stat(dest).catch(() => null)) return dest;
  await mkdir(join(cacheDir, 'downloads'), { recursive: true });
  const tmp = `${dest}.part`;
  let res: Response;
  try {
    res = await fetchFn(url);
  } catch (err) {
    throw new DrydockError('NETWORK_FAILED', `cannot download ${url}: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body)
    throw new DrydockError('NETWORK_FAILED', `cannot download ${url}: HTTP ${res.status}`);
  const h = createHash('sha256');
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  body.on('data', (c: Buffer) => h.update(c));
  try {
    await pipeline(body, createWriteStream(tmp));
  } catch (err) {
    await rm(tmp, { force: true });
    // a filesystem error (ENOSPC, EACCES) is the cache's, not the network's
    if ((err as NodeJS.ErrnoException).syscall) throw err;
    throw new DrydockError('NETWORK_FAILED', `download of ${url} broke off: ${(err as Error).message}`);
  }
  const got = h.digest('hex');
  if (got !== sha256) {
    await rm(tmp, { force: true });
    throw new DrydockError('BLOB_DIGEST_MISMATCH', `${url} has sha256 ${got}, the lock pins ${sha256}`);
  }
  await rename(tmp, dest);
  return dest;
}

export async function resolveInputs(opts: {
  lock: InputsLock;
  cacheDir: string;
  k3sBinary?: string;
  k3sImages?: string;
  /** go on without what is neither local nor pinned (the demo/CI build) */
  allowMissing: boolean;
  fetch?: Fetch;
}): Promise<ResolvedInputs> {
  const fetchFn = opts.fetch ?? fetch;
  const one = async (
    what: string,
    flag: string,
    local: string | undefined,
    pinned: { url: string; sha256: string | null },
  ): Promise<ResolvedInput> => {
    if (local) {
      const st = await stat(local).catch(() => null);
      if (!st?.isFile()) throw new DrydockError('BUILD_INPUT_MISSING', `${what}: ${local} is not a file`);
      return { what, path: local, sha256: await sha256File(local), source: 'local' };
    }
    if (pinned.sha256) {
      try {
        const path = await download(fetchFn, pinned.url, pinned.sha256, opts.cacheDir);
        return { what, path, sha256: pinned.sha256, source: 'pinned' };
      } catch (err) {
        // an unreachable source is a missing input (a demo build goes on and says so); bytes that
        // arrived with the wrong hash are never "missing": that stops every build
        if (!(err instanceof DrydockError) || err.code !== 'NETWORK_FAILED') throw err;
        return {
          what,
          path: null,
          source: 'none',
          missing: `${what}: pinned ${opts.lock.k3s.version} could not be downloaded (${err.message}; pass ${flag} PATH on a machine without access)`,
        };
      }
    }
    return {
      what,
      path: null,
      source: 'none',
      missing: `${what}: not provided (pin its sha256 in images/inputs.lock.json or pass ${flag} PATH)`,
    };
  };
  const k3sBinary = await one('k3s binary', '--k3s-binary', opts.k3sBinary, opts.lock.k3s.binary);
  const k3sImages = await one(
    'k3s airgap images',
    '--k3s-images',
    opts.k3sImages,
    opts.lock.k3s.airgapImages,
  );
  const omitted = [k3sBinary, k3sImages].filter((i) => i.path === null).map((i) => i.missing!);
  if (omitted.length && !opts.allowMissing)
    throw new DrydockError('BUILD_INPUT_MISSING', `the build needs: ${omitted.join('; ')}`);
  return { k3sVersion: opts.lock.k3s.version, k3sBinary, k3sImages, omitted };
}
