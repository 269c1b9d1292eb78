// openBox: the one way in. Reads config.yaml, opens state.db (migrating it), the blob store and
// the cluster driver, seeds settings from the config, then converges an interrupted update.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DrydockError } from '../../core/index.ts';
import { BlobStore } from '../blobstore/index.ts';
import type { ClusterDriver, ClusterKind } from '../cluster/index.ts';
import type { Box } from './api.ts';
import { readConfig } from './config.ts';
import { migrate, openDatabase } from './db.ts';
import {
  type ChannelFactory,
  type DriverFactory,
  defaultChannelFactory,
  defaultDriverFactory,
  defaultReadBundle,
  defaultReadBundleHead,
  type ReadBundle,
  type ReadBundleHead,
} from './deps.ts';
import { type StatFs, systemStatfs } from './disk.ts';
import { Engine } from './engine.ts';
import { envFaults, type FaultHook } from './faults.ts';
import { type Clock, systemClock } from './health.ts';
import { layout } from './layout.ts';
import { Records } from './records.ts';
import { ENGINE_MIGRATIONS } from './schema.ts';

export interface OpenBoxOptions {
  root: string;
  /** a driver, or which one to create (default: config.yaml `cluster`) */
  cluster?: ClusterDriver | ClusterKind;
  clock?: Clock;
  /** used by the channel client (tests pass one bound to a local server) */
  fetch?: typeof fetch;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  statfs?: StatFs;
  readBundle?: ReadBundle;
  readBundleHead?: ReadBundleHead;
  channel?: ChannelFactory;
  driverFactory?: DriverFactory;
  fault?: FaultHook;
  /** default true: finish or undo an interrupted update before returning */
  converge?: boolean;
}

export async function openBox(opts: OpenBoxOptions): Promise<Box & Engine> {
  const paths = layout(opts.root);
  const config = readConfig(paths.config);
  if (!config)
    throw new DrydockError(
      'BOX_NOT_INITIALISED',
      `no box at ${opts.root} (no ${paths.config}); run drydock box init`,
    );
  for (const d of [paths.releases, paths.snapshots, paths.tuf])
    await mkdir(d, { recursive: true, mode: 0o755 });
  const db = openDatabase(opts.root);
  try {
    migrate(db, 'engine', ENGINE_MIGRATIONS);
    const rec = new Records(db);
    db.transaction(() => {
      for (const key of [
        'channelUrl',
        'checkSchedule',
        'autoStage',
        'autoApply',
        'maintenanceWindow',
      ] as const)
        if (config[key] !== undefined) rec.setSetting(key, config[key], true);
    })();
    const store = await new BlobStore(paths.blobs).open();
    const driver =
      typeof opts.cluster === 'object'
        ? opts.cluster
        : await (opts.driverFactory ?? defaultDriverFactory)(opts.cluster ?? config.cluster, {
            root: opts.root,
            ...(config.kubernetes
              ? {
                  kubernetes: {
                    ...config.kubernetes,
                    kubeconfig: join(opts.root, config.kubernetes.kubeconfig),
                  },
                }
              : {}),
          });
    const engine = new Engine({
      db,
      paths,
      config,
      store,
      driver,
      clock: opts.clock ?? systemClock,
      statfs: opts.statfs ?? systemStatfs,
      readBundle: opts.readBundle ?? defaultReadBundle,
      readBundleHead: opts.readBundleHead ?? defaultReadBundleHead,
      channel: opts.channel ?? defaultChannelFactory,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      fault: opts.fault ?? envFaults(),
      ...(opts.log ? { log: opts.log } : {}),
    });
    if (opts.converge !== false) await engine.converge();
    return engine;
  } catch (e) {
    db.close();
    throw e;
  }
}
