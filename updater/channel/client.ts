// The box's side of a channel (docs/release-bundles.md): a TUF client (tuf-js Updater) that refreshes the metadata
// chain, reads the signed channel index and release.json documents, and downloads the blobs a
// release needs with HTTP Range resume. Blobs are pinned by release.json, itself a signed target.
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Updater } from 'tuf-js';
import { asDrydockError, DrydockError, isDrydockError } from '../../core/index.ts';
import type { BlobStore } from '../blobstore/index.ts';
import { parseRelease, type Release, releaseBlobs } from '../release/index.ts';
import { loadTrustedRoot, serialize } from '../tuf/index.ts';
import { type ChannelIndex, indexTarget } from './repo.ts';

export interface ChannelClientOptions {
  /** base URL of the repository, e.g. https://updates.example.com/drydock/ */
  url: string;
  channel?: string;
  /** the root.json the box ships with (path, bytes or parsed JSON); seeds the metadata cache */
  trustedRoot: unknown;
  /** where verified metadata is kept between runs (tuf-js persists newer roots here) */
  cacheDir: string;
  /** used for blob downloads; defaults to the global fetch */
  fetch?: typeof fetch;
  /** per-request timeout for metadata, ms */
  timeoutMs?: number;
}

export interface FetchProgress {
  digest: string;
  done: number;
  total: number;
}

export interface FetchResult {
  fetched: number;
  bytes: number;
  /** bytes that a previous, interrupted download had already saved */
  resumedBytes: number;
}

/** tuf-js/@tufjs errors by class name → our stable codes */
function mapTufError(e: unknown): DrydockError {
  if (isDrydockError(e)) return e;
  const name = (e as object)?.constructor?.name ?? '';
  const msg = (e as Error)?.message ?? String(e);
  const codes: Record<string, ConstructorParameters<typeof DrydockError>[0]> = {
    ExpiredMetadataError: 'METADATA_EXPIRED',
    UnsignedMetadataError: 'SIGNATURE_INVALID',
    BadVersionError: 'METADATA_ROLLBACK',
    EqualVersionError: 'METADATA_ROLLBACK',
    LengthOrHashMismatchError: 'METADATA_INVALID',
    RepositoryError: 'METADATA_INVALID',
    ValueError: 'METADATA_INVALID',
    DownloadHTTPError: 'NETWORK_FAILED',
    DownloadLengthMismatchError: 'METADATA_INVALID',
    DownloadError: 'NETWORK_FAILED',
  };
  const code =
    codes[name] ??
    (/fetch failed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket/i.test(msg) ? 'NETWORK_FAILED' : 'INTERNAL');
  return new DrydockError(code, `channel: ${msg}`, { cause: e });
}

export class ChannelClient {
  readonly url: string;
  readonly channel: string;
  private readonly opts: ChannelClientOptions;
  private updater: Updater | undefined;

  constructor(opts: ChannelClientOptions) {
    this.opts = opts;
    this.url = opts.url.endsWith('/') ? opts.url : `${opts.url}/`;
    this.channel = opts.channel ?? 'stable';
  }

  private get fetch(): typeof fetch {
    return this.opts.fetch ?? globalThis.fetch;
  }

  private async ensureCache(): Promise<string> {
    const dir = join(this.opts.cacheDir, 'metadata');
    await mkdir(dir, { recursive: true });
    const rootPath = join(dir, 'root.json');
    const trusted = await loadTrustedRoot(this.opts.trustedRoot);
    let cached = 0;
    try {
      cached = (JSON.parse(await readFile(rootPath, 'utf8')) as { signed: { version: number } }).signed
        .version;
    } catch {
      /* no usable cache */
    }
    // never go back to an older root than the one the cache already moved on to
    if (cached < trusted.signed.version) await writeFile(rootPath, serialize(trusted));
    return dir;
  }

  /** Updates the TUF metadata and returns the verified releases of the channel, oldest first. */
  async refresh(): Promise<Release[]> {
    const metadataDir = await this.ensureCache();
    try {
      const updater = new Updater({
        metadataDir,
        metadataBaseUrl: `${this.url}metadata/`,
        targetBaseUrl: `${this.url}targets/`,
        config: { fetchRetries: 0, fetchTimeout: this.opts.timeoutMs ?? 30_000 },
      });
      await updater.refresh();
      this.updater = updater;
      const index = JSON.parse(
        (await this.target(indexTarget(this.channel))).toString('utf8'),
      ) as ChannelIndex;
      const out: Release[] = [];
      for (const entry of index.releases ?? []) {
        const doc = JSON.parse((await this.target(entry.release)).toString('utf8'));
        out.push(parseRelease(doc));
      }
      return out;
    } catch (e) {
      throw mapTufError(e);
    }
  }

  /** A target verified by tuf-js against the signed targets metadata. */
  private async target(path: string): Promise<Buffer> {
    const updater = this.updater;
    if (!updater) throw new DrydockError('INTERNAL', 'ChannelClient.refresh() must run first');
    const info = await updater.getTargetInfo(path);
    if (!info) throw new DrydockError('NOT_FOUND', `the channel has no signed ${path}`);
    const tmp = await mkdtemp(join(this.opts.cacheDir, 'target-'));
    try {
      const file = await updater.downloadTarget(info, join(tmp, 'file'));
      return await readFile(file);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * Downloads the blobs of `release` that `store` lacks. Each download appends to the store's
   * partial file, so after a crash or a dropped connection the next call resumes with a Range request.
   */
  async fetchBlobs(
    release: Release,
    store: BlobStore,
    o: { onProgress?: (p: FetchProgress) => void; signal?: AbortSignal } = {},
  ): Promise<FetchResult> {
    const result: FetchResult = { fetched: 0, bytes: 0, resumedBytes: 0 };
    for (const b of releaseBlobs(release)) {
      if (await store.has(b.digest, b.size)) continue;
      o.signal?.throwIfAborted();
      const partial = store.partialPath(b.digest);
      let have = (await stat(partial).catch(() => null))?.size ?? 0;
      if (have > b.size) {
        await truncate(partial, 0);
        have = 0;
      }
      result.resumedBytes += have;
      if (have < b.size) have = await this.download(b.digest, b.size, partial, have, o, result);
      await store.commitPartial(b.digest, b.size);
      result.fetched++;
    }
    return result;
  }

  private async download(
    digest: string,
    size: number,
    partial: string,
    have: number,
    o: { onProgress?: (p: FetchProgress) => void; signal?: AbortSignal },
    result: FetchResult,
  ): Promise<number> {
    const url = `${this.url}blobs/sha256/${digest.slice('sha256:'.length)}`;
    let res: Response;
    try {
      res = await this.fetch(url, {
        headers: have > 0 ? { range: `bytes=${have}-` } : {},
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (e) {
      if (o.signal?.aborted) throw new DrydockError('UPDATE_CANCELLED', 'the download was cancelled');
      throw new DrydockError('NETWORK_FAILED', `cannot fetch ${url}: ${(e as Error).message}`, { cause: e });
    }
    if (have > 0 && res.status === 200) {
      // the server ignored the range: start over
      await truncate(partial, 0);
      have = 0;
    } else if (res.status === 416) {
      await truncate(partial, 0);
      throw new DrydockError('NETWORK_FAILED', `${url}: the server refused the resume range; retry`);
    } else if (!(res.status === 200 || (have > 0 && res.status === 206))) {
      throw new DrydockError(
        res.status === 404 ? 'BLOB_MISSING' : 'NETWORK_FAILED',
        `${url} answered HTTP ${res.status}`,
      );
    }
    if (res.status === 206) {
      const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== have) {
        await truncate(partial, 0);
        throw new DrydockError('NETWORK_FAILED', `${url}: the server resumed at the wrong offset; retry`);
      }
    }
    const file = createWriteStream(partial, { flags: have > 0 ? 'a' : 'w' });
    // a write error of the partial file (ENOSPC above all) is reported as itself (DISK_FULL), and
    // must wake a writer waiting for 'drain', which never comes after an error
    let fileError: Error | undefined;
    const done = new Promise<void>((resolve) => {
      file.once('error', (e) => {
        fileError = e;
        file.emit('drain');
        resolve();
      });
      file.once('close', resolve);
    });
    try {
      if (!res.body) throw new DrydockError('NETWORK_FAILED', `${url}: empty response`);
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        if (fileError) throw asDrydockError(fileError);
        if (have + chunk.length > size)
          throw new DrydockError('BLOB_SIZE_MISMATCH', `${url} sends more than the ${size} bytes declared`);
        if (!file.write(chunk)) await new Promise<void>((r) => file.once('drain', () => r()));
        have += chunk.length;
        result.bytes += chunk.length;
        o.onProgress?.({ digest, done: have, total: size });
      }
    } catch (e) {
      if (isDrydockError(e)) throw e;
      if (o.signal?.aborted) throw new DrydockError('UPDATE_CANCELLED', 'the download was cancelled');
      throw new DrydockError(
        'NETWORK_FAILED',
        `download of ${digest} broke off at ${have} of ${size} bytes; it resumes next time`,
        {
          cause: e,
        },
      );
    } finally {
      file.end();
      await done;
    }
    if (fileError) throw asDrydockError(fileError);
    if (have !== size)
      throw new DrydockError(
        'NETWORK_FAILED',
        `download of ${digest} ended at ${have} of ${size} bytes; it resumes next time`,
      );
    return have;
  }
}
