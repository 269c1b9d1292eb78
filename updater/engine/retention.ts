// Retention: the box keeps the running release, the previous one and (keepReleases-2) older ones,
// plus the release an update is working on. Everything else goes: release rows and folders,
// snapshots nobody can restore any more, and every blob no kept release needs.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../blobstore/index.ts';
import { releaseBlobs } from '../release/index.ts';
import type { Layout } from './layout.ts';
import { ACTIVE_STATES } from './machine.ts';
import type { Records } from './records.ts';

export interface PruneResult {
  releases: string[];
  blobs: number;
  snapshots: string[];
}

export async function prune(
  rec: Records,
  store: BlobStore,
  paths: Layout,
  keep: number,
  extraVersions: string[] = [],
): Promise<PruneResult> {
  const st = rec.state();
  const rows = rec.releases();
  const retained = rows
    .filter((r) => r.role === 'retained')
    .sort((a, b) => (b.left_at ?? '').localeCompare(a.left_at ?? ''));
  const keepRetained = new Set(retained.slice(0, Math.max(0, keep - 2)).map((r) => r.version));
  const stagedTarget = st.state === 'staged' || ACTIVE_STATES.has(st.state) ? st.target_version : null;
  // a channel download that broke off (not for want of disk) keeps what arrived: the next one resumes
  const resumable =
    st.state === 'failed' && st.source === 'channel' && st.error_code !== 'DISK_FULL'
      ? st.target_version
      : null;
  const kept = rows.filter(
    (r) =>
      r.role === 'running' ||
      r.role === 'previous' ||
      keepRetained.has(r.version) ||
      r.version === stagedTarget ||
      extraVersions.includes(r.version),
  );
  const dropped = rows.filter((r) => !kept.includes(r));
  rec.db.transaction(() => {
    for (const r of dropped) rec.deleteRelease(r.version);
  })();

  const needed = new Set<string>();
  for (const r of kept) for (const b of releaseBlobs(rec.document(r))) needed.add(b.digest);
  // a channel download in progress pins the blobs of its target (from the offer it started from)
  for (const pinned of [stagedTarget, resumable])
    if (pinned && !kept.some((r) => r.version === pinned))
      for (const doc of rec.available())
        if (doc.version === pinned) for (const b of releaseBlobs(doc)) needed.add(b.digest);

  let blobs = 0;
  for (const digest of await store.list())
    if (!needed.has(digest)) {
      await store.remove(digest);
      blobs++;
    }

  // partial downloads of blobs nobody waits for any more
  for (const hex of await readdir(join(store.dir, 'partial')).catch(() => [] as string[]))
    if (!needed.has(`sha256:${hex}`)) await rm(join(store.dir, 'partial', hex), { force: true });

  const keptVersions = new Set(kept.map((r) => r.version));
  if (stagedTarget) keptVersions.add(stagedTarget);
  const releases: string[] = [];
  for (const name of await readdir(paths.releases).catch(() => [] as string[]))
    if (!keptVersions.has(name)) {
      await rm(paths.release(name), { recursive: true, force: true });
      releases.push(name);
    }

  // snapshots: the one taken before the running release (an explicit rollback restores it) and the
  // one of the update in progress
  const keepSnaps = new Set<string>();
  const running = rows.find((r) => r.role === 'running');
  if (running?.snapshot_id) keepSnaps.add(running.snapshot_id);
  if (ACTIVE_STATES.has(st.state) && st.snapshot_id) keepSnaps.add(st.snapshot_id);
  const snapshots: string[] = [];
  for (const name of await readdir(paths.snapshots).catch(() => [] as string[]))
    if (!keepSnaps.has(name)) {
      await rm(paths.snapshot(name), { recursive: true, force: true });
      snapshots.push(name);
    }
  return { releases: [...new Set([...dropped.map((r) => r.version), ...releases])], blobs, snapshots };
}
