// What a rollback does with the data: put back the snapshot taken before the release being left
// was applied ("restore": writes since then are lost), or keep the data as it is ("keep"). The safe
// default restores whenever that release's pods ran against volumes (a failed new version may have
// migrated or damaged them), unless the release declares `data.compatible: true` (the earlier
// release runs on its data). A release with no volumes and no restore hook has nothing to give back.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Release } from '../release/index.ts';

export type DataAction = 'restore' | 'keep';

export function defaultDataAction(leaving: Release): DataAction {
  const d = leaving.data;
  if (d?.compatible === true) return 'keep';
  if (d?.changesData || leaving.hooks?.restore || (d?.volumes?.length ?? 0) > 0) return 'restore';
  return 'keep';
}

export interface DataPlan {
  /** what happens unless the admin chooses otherwise */
  default: DataAction;
  /** the snapshot a restore would use; null when there is none */
  snapshot: { id: string; takenAt: string } | null;
  /** plain words for the page and the CLI */
  words: Record<DataAction, string>;
}

/** An explicit rollback's target and what it would do with the data. */
export interface RollbackPlan {
  from: string;
  to: string;
  data: DataPlan;
}

export async function dataPlan(
  leaving: Release,
  snapshotDir: string | null,
  snapshotId: string | null,
): Promise<DataPlan> {
  let takenAt: string | null = null;
  if (snapshotDir && snapshotId)
    takenAt = await readFile(join(snapshotDir, 'snapshot.json'), 'utf8').then(
      (t) => String((JSON.parse(t) as { takenAt?: string }).takenAt ?? ''),
      () => null,
    );
  const snapshot = snapshotId && takenAt ? { id: snapshotId, takenAt } : null;
  return {
    default: snapshot ? defaultDataAction(leaving) : 'keep',
    snapshot,
    words: {
      restore: snapshot
        ? `restore data from ${snapshot.takenAt} (writes since then are lost)`
        : 'no snapshot to restore data from',
      keep: 'keep current data',
    },
  };
}
