// Downloading a release from the channel (online): the blobs it still lacks, resumable (partial
// files survive a crash or a broken connection), with the disk watched while it runs; ends staged.
import semver from 'semver';
import { DrydockError } from '../../core/index.ts';
import { canonicalJson, type Release } from '../release/index.ts';
import type { Actor } from './api.ts';
import type { EngineContext } from './context.ts';
import type { Channel } from './deps.ts';
import { asDiskAware, diskInfo, requireSpace } from './disk.ts';
import { checkUpdatePolicy } from './policy.ts';
import type { StateRow } from './records.ts';

export async function openChannel(ctx: EngineContext): Promise<Channel> {
  const url = ctx.rec.settings().channelUrl;
  if (!url)
    throw new DrydockError(
      'CONFIG_INVALID',
      'no channel URL is set (settings channelUrl or config.yaml channelUrl)',
    );
  const running = ctx.runningRow();
  return ctx.p.channel({
    url,
    channel: ctx.p.config.channel ?? (running ? ctx.rec.document(running).channel : 'stable'),
    metadataDir: ctx.p.paths.tuf,
    trustedRoot: ctx.trustPath,
    ...(ctx.p.fetch ? { fetch: ctx.p.fetch } : {}),
  });
}

/** The offer to download: `version`, or the newest the policy lets this box install. */
async function chooseOffer(ctx: EngineContext, version: string | undefined): Promise<Release> {
  ctx.requireNotActive();
  const running = await ctx.runningForPolicy();
  const offers = ctx.rec.available().sort((a, b) => semver.rcompare(a.version, b.version));
  let release: Release | undefined;
  if (version) {
    release = offers.find((r) => r.version === version);
    if (!release)
      throw new DrydockError('NO_UPDATE', `${version} is not offered by the channel (run check first)`);
    checkUpdatePolicy(running, release);
  } else
    release = offers.find((r) => {
      try {
        checkUpdatePolicy(running, r);
        return true;
      } catch {
        return false;
      }
    });
  if (!release) throw new DrydockError('NO_UPDATE', 'the channel offers no release this box can install');
  return release;
}

/** Downloads `version` (or the best offer), or resumes the download a state row records. */
export async function downloadRelease(
  ctx: EngineContext,
  actor: Actor,
  version: string | undefined,
  resume: StateRow | null,
): Promise<void> {
  const { p, rec } = ctx;
  const release = resume
    ? rec.available().find((r) => r.version === resume.target_version)
    : await chooseOffer(ctx, version);
  if (!release) throw new DrydockError('NO_UPDATE', 'the release being downloaded is no longer known');
  const missing = await ctx.missingBlobs(release);
  try {
    await requireSpace(p.statfs, p.paths.blobs, missing.bytes, ctx.margin, `downloading ${release.version}`);
    if (!resume)
      ctx.go({
        state: 'downloading',
        source: 'channel',
        kind: null,
        target_name: release.name,
        target_version: release.version,
        from_version: null,
        history_id: null,
        snapshot_id: null,
        automatic: 0,
        error_code: null,
        error_message: null,
        step: 'download',
        progress_done: 0,
        progress_total: missing.bytes,
      });
    const chan = await openChannel(ctx);
    await watchDisk(ctx, missing.bytes, (signal, onBytes) =>
      chan.fetchBlobs(release, p.store, {
        signal,
        onProgress: (d, t) => {
          onBytes(d);
          ctx.progress('download', d, t ?? missing.bytes);
        },
      }),
    );
    const still = await ctx.missingBlobs(release);
    if (still.count)
      throw new DrydockError('BLOB_MISSING', `${still.count} blob(s) of ${release.version} did not arrive`);
    await ctx.writeReleaseFiles(release);
    ctx.go({ state: 'staged', step: null, progress_done: null, progress_total: null }, () =>
      rec.putStaged(release, canonicalJson(release)),
    );
    rec.audit(actor.user, actor.from, 'download', `downloaded ${release.version}`, 'ok');
  } catch (e) {
    let err = asDiskAware(e);
    // a writer may report ENOSPC as a short or broken file: if the disk has no room left for
    // what is still missing, that is what happened
    if (err.code !== 'DISK_FULL' && err.code !== 'UPDATE_CANCELLED') {
      const still = await ctx.missingBlobs(release).catch(() => ({ bytes: 0 }));
      const { freeBytes } = await diskInfo(p.statfs, p.paths.blobs);
      if (still.bytes > 0 && freeBytes < still.bytes)
        err = new DrydockError(
          'DISK_FULL',
          `the disk filled up during the download (${freeBytes} bytes free, ${still.bytes} still needed): ${err.message}`,
          { cause: e },
        );
    }
    if (ctx.downloading?.abort.signal.aborted) {
      // cancelled by the admin: back to idle, what arrived is dropped
      ctx.go({
        state: 'idle',
        source: null,
        target_name: null,
        target_version: null,
        step: null,
        progress_done: null,
        progress_total: null,
        error_code: null,
        error_message: null,
      });
      await ctx.pruneNow();
      throw new DrydockError('UPDATE_CANCELLED', `the download of ${release.version} was cancelled`);
    }
    // a network failure keeps what arrived (the next download resumes); disk full gives space back
    ctx.go({
      state: 'failed',
      step: null,
      error_code: err.code,
      error_message: `download failed: ${err.message}`,
    });
    if (err.code === 'DISK_FULL') await ctx.pruneNow();
    rec.audit(actor.user, actor.from, 'download', `${release.version}: ${err.code}: ${err.message}`, 'error');
    throw err;
  }
}

/**
 * Runs a download while watching the disk: when something else fills it so that what is still
 * to come no longer fits, the download is aborted at once with DISK_FULL (rather than filling
 * the disk k3s lives on to the last byte, or waiting on a writer that may never report it).
 */
async function watchDisk<T>(
  ctx: EngineContext,
  total: number,
  run: (signal: AbortSignal, onBytes: (done: number) => void) => Promise<T>,
): Promise<T> {
  const ac = new AbortController();
  const cancel = ctx.downloading?.abort.signal;
  let done = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const watch = new Promise<never>((_, reject) => {
    const tick = async () => {
      if (stopped) return;
      const { freeBytes } = await diskInfo(ctx.p.statfs, ctx.p.paths.blobs).catch(() => ({
        freeBytes: Infinity,
      }));
      const left = Math.max(0, total - done);
      if (left > 0 && freeBytes < left) {
        ac.abort();
        reject(
          new DrydockError(
            'DISK_FULL',
            `the disk filled up during the download: ${freeBytes} bytes free, ${left} still to come`,
          ),
        );
        return;
      }
      if (!stopped) timer = setTimeout(tick, 250);
    };
    timer = setTimeout(tick, 250);
    cancel?.addEventListener(
      'abort',
      () => {
        ac.abort();
        reject(new DrydockError('UPDATE_CANCELLED', 'the download was cancelled'));
      },
      { once: true },
    );
  });
  watch.catch(() => {}); // settled late (after the download ended) it is of no interest
  try {
    return await Promise.race([run(ac.signal, (d) => (done = d)), watch]);
  } finally {
    stopped = true;
    clearTimeout(timer);
  }
}
