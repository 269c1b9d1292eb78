// Staging a bundle (offline): signatures and policy from the verified head first, so that a
// refused bundle changes nothing; then downloading → blobs into the store → release files →
// staged. A failure gives back what it wrote; refused input even puts the state row back.
import { mkdir, rm, stat } from 'node:fs/promises';
import { asDrydockError, DrydockError } from '../../core/index.ts';
import { canonicalJson, type Release, releaseBlobs } from '../release/index.ts';
import type { Actor } from './api.ts';
import type { EngineContext } from './context.ts';
import { asDiskAware, requireSpace } from './disk.ts';
import { checkUpdatePolicy } from './policy.ts';

export async function stageBundle(ctx: EngineContext, actor: Actor, bundlePath: string): Promise<Release> {
  const { p, rec } = ctx;
  const before = ctx.requireNotActive();
  const size = await stat(bundlePath).then(
    (s) => {
      if (!s.isFile()) throw new DrydockError('BUNDLE_NOT_A_BUNDLE', `${bundlePath} is not a file`);
      return s.size;
    },
    () => {
      throw new DrydockError('NOT_FOUND', `no bundle at ${bundlePath}`);
    },
  );
  // signatures and policy first, from the bundle's verified head: a refused bundle changes nothing
  let head: { release: Release };
  try {
    head = await p.readBundleHead(bundlePath, { trustedRoot: ctx.trustPath });
    checkUpdatePolicy(await ctx.runningForPolicy(), head.release);
    await requireSpace(p.statfs, p.paths.blobs, size, ctx.margin, 'staging the bundle');
  } catch (e) {
    const err = asDrydockError(e);
    rec.audit(actor.user, actor.from, 'stage', `bundle refused: ${err.code}: ${err.message}`, 'error');
    throw err;
  }
  const blobsBefore = new Set(await p.store.list());
  ctx.go({
    state: 'downloading',
    source: 'bundle',
    kind: null,
    target_name: head.release.name,
    target_version: head.release.version,
    from_version: ctx.runningRow()?.version ?? null,
    history_id: null,
    snapshot_id: null,
    automatic: 0,
    error_code: null,
    error_message: null,
    step: 'verify',
    progress_done: 0,
    progress_total: size,
  });
  let version: string | null = head.release.version;
  try {
    const { release, roots } = await p.readBundle(bundlePath, {
      trustedRoot: ctx.trustPath,
      blobs: p.store,
      onProgress: (done, total) => {
        ctx.progress('verify', done, total ?? size);
        if (done > 0 && done < (total ?? size)) ctx.fault('stage:reading');
      },
    });
    version = release.version;
    ctx.fault('stage:blobs');
    if (canonicalJson(release) !== canonicalJson(head.release))
      throw new DrydockError('BUNDLE_RELEASE_INVALID', 'the bundle changed while it was being read');
    ctx.progress('stage', 0, release.manifests.length);
    await ctx.writeReleaseFiles(release);
    ctx.fault('stage:files');
    await ctx.persistRoots(roots);
    ctx.go(
      {
        state: 'staged',
        target_name: release.name,
        target_version: release.version,
        step: null,
        progress_done: null,
        progress_total: null,
      },
      () => rec.putStaged(release, canonicalJson(release)),
    );
    rec.audit(
      actor.user,
      actor.from,
      'stage',
      `staged ${release.name} ${release.version} from a bundle`,
      'ok',
    );
    await ctx.pruneNow(); // a release staged earlier and replaced by this one
    return release;
  } catch (e) {
    const err = asDiskAware(e);
    await giveBack(ctx, blobsBefore, version);
    if (err.kind === 'refused') {
      // refused input: the box is as it was, state row included
      ctx.go({
        state: before.state,
        source: before.source,
        kind: before.kind,
        target_name: before.target_name,
        target_version: before.target_version,
        from_version: before.from_version,
        history_id: before.history_id,
        snapshot_id: before.snapshot_id,
        automatic: before.automatic,
        error_code: before.error_code,
        error_message: before.error_message,
        step: null,
        progress_done: null,
        progress_total: null,
      });
    } else {
      ctx.go({
        state: 'failed',
        step: null,
        error_code: err.code,
        error_message: `staging failed: ${err.message}`,
      });
    }
    rec.audit(actor.user, actor.from, 'stage', `bundle refused: ${err.code}: ${err.message}`, 'error');
    throw err;
  }
}

/** Removes what a failed staging wrote: blobs that were not there before (unless a kept release needs them) and its folder. */
async function giveBack(ctx: EngineContext, blobsBefore: Set<string>, version: string | null): Promise<void> {
  const { p, rec } = ctx;
  const needed = new Set<string>();
  for (const r of rec.releases()) for (const b of releaseBlobs(rec.document(r))) needed.add(b.digest);
  for (const d of await p.store.list()) if (!blobsBefore.has(d) && !needed.has(d)) await p.store.remove(d);
  await rm(`${p.store.dir}/tmp`, { recursive: true, force: true });
  await mkdir(`${p.store.dir}/tmp`, { recursive: true });
  if (version && !rec.releaseRow(version))
    await rm(p.paths.release(version), { recursive: true, force: true });
}
