// initBox: the first install, as the image build runs it. Checks every input before it writes
// anything, then lays out the box root, trusts the given root.json, hands the first admin password
// to the service (var/lib/drydock/secrets/initial-admin.json, read by updater/service) and
// installs the first release.

import { chmod, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { atomicWrite } from '../../core/durable.ts';
import { asDrydockError, DrydockError } from '../../core/index.ts';
import { CLUSTER_KINDS, type ClusterKind } from '../cluster/api.ts';
import type { HistoryEntry } from './api.ts';
import { type BoxConfig, readConfig } from './config.ts';
import { migrate, openDatabase } from './db.ts';
import { defaultReadBundleHead } from './deps.ts';
import { type Layout, layout } from './layout.ts';
import { type OpenBoxOptions, openBox } from './open.ts';
import { Records } from './records.ts';
import { ENGINE_MIGRATIONS } from './schema.ts';

export interface InitBoxOptions extends Omit<OpenBoxOptions, 'cluster'> {
  trustPath: string;
  bundlePath: string;
  cluster: ClusterKind;
  /** cluster kubernetes: how to reach it (the kubeconfig file is copied into the box) */
  kubernetes?: { kubeconfigFile: string; kubectl?: string; containerdSocket?: string };
  adminPasswordFile?: string;
  /** the appliance name for config.yaml (default: the release name) */
  name?: string;
  channelUrl?: string;
  /** further config.yaml keys (keepReleases, diskMarginBytes, healthPollMs …) */
  config?: Partial<BoxConfig>;
}

async function readInput(path: string, what: string): Promise<Buffer> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new Error('not a file');
    return await readFile(path);
  } catch {
    throw new DrydockError('NOT_FOUND', `${what} ${path} is not a readable file`);
  }
}

export async function initBox(opts: InitBoxOptions): Promise<HistoryEntry> {
  const paths = layout(opts.root);
  // inputs first: nothing is written unless all of them are usable
  const trust = await readInput(opts.trustPath, 'trusted root');
  try {
    const doc = JSON.parse(trust.toString('utf8')) as { signed?: { _type?: string } };
    if (doc?.signed?._type !== 'root') throw new Error('not a TUF root');
  } catch (e) {
    throw new DrydockError(
      'METADATA_INVALID',
      `${opts.trustPath} is not a TUF root.json: ${(e as Error).message}`,
    );
  }
  await readInput(opts.bundlePath, 'bundle');
  let password: string | null = null;
  if (opts.adminPasswordFile) {
    password = (await readInput(opts.adminPasswordFile, 'admin password file'))
      .toString('utf8')
      .replace(/\r?\n$/, '');
    if (!password) throw new DrydockError('PASSWORD_WEAK', `${opts.adminPasswordFile} is empty`);
  }
  if (!(CLUSTER_KINDS as readonly string[]).includes(opts.cluster))
    throw new DrydockError(
      'USAGE',
      `--cluster must be one of ${CLUSTER_KINDS.join(', ')}, not ${opts.cluster}`,
    );
  let kubeconfig: Buffer | null = null;
  if (opts.cluster === 'kubernetes') {
    if (!opts.kubernetes?.kubeconfigFile)
      throw new DrydockError('USAGE', '--cluster kubernetes needs --kubeconfig FILE');
    kubeconfig = await readInput(opts.kubernetes.kubeconfigFile, 'kubeconfig');
  } else if (opts.kubernetes)
    throw new DrydockError('USAGE', `--kubeconfig is for --cluster kubernetes, not ${opts.cluster}`);
  const existing = readConfig(paths.config);
  if (existing) {
    const db = openDatabase(opts.root);
    try {
      migrate(db, 'engine', ENGINE_MIGRATIONS);
      const running = new Records(db).byRole('running');
      if (running)
        throw new DrydockError(
          'BOX_ALREADY_INITIALISED',
          `the box at ${opts.root} already runs ${running.name} ${running.version}`,
        );
    } finally {
      db.close();
    }
  }

  // the bundle's signatures against the given root, before anything is written
  await (opts.readBundleHead ?? defaultReadBundleHead)(opts.bundlePath, { trustedRoot: opts.trustPath });
  const fresh = !existing && !(await exists(paths.lib));

  // 0700: config, TLS key and trusted root are the box's own; only root (the updater) reads them
  await mkdir(paths.etc, { recursive: true, mode: 0o700 });
  await chmod(paths.etc, 0o700);
  await atomicWrite(paths.trustedRoot, await readFile(opts.trustPath), 0o644);
  // 0600: a kubeconfig carries the cluster's credentials
  if (kubeconfig) await atomicWrite(join(paths.etc, 'kubeconfig'), kubeconfig, 0o600);
  const config = {
    ...(existing ?? {}),
    ...(opts.name ? { name: opts.name } : {}),
    cluster: opts.cluster,
    ...(opts.kubernetes
      ? {
          kubernetes: {
            kubeconfig: '/etc/drydock/kubeconfig',
            ...(opts.kubernetes.kubectl ? { kubectl: opts.kubernetes.kubectl } : {}),
            ...(opts.kubernetes.containerdSocket
              ? { containerdSocket: opts.kubernetes.containerdSocket }
              : {}),
          },
        }
      : {}),
    trustedRoot: '/etc/drydock/root.json',
    ...(opts.channelUrl ? { channelUrl: opts.channelUrl } : {}),
    ...(opts.config ?? {}),
  };
  // 0600: config.yaml may carry a proxy URL with credentials
  await atomicWrite(paths.config, YAML.stringify(config), 0o600);
  if (password !== null) {
    await mkdir(paths.secrets, { recursive: true, mode: 0o700 });
    await chmod(paths.secrets, 0o700);
    const file = join(paths.secrets, 'initial-admin.json');
    await atomicWrite(file, JSON.stringify({ password, source: 'file', mustChange: true }), 0o600);
  }

  let box: Awaited<ReturnType<typeof openBox>>;
  try {
    box = await openBox({ ...opts, cluster: opts.cluster });
  } catch (e) {
    if (fresh) await undoInit(paths);
    throw e;
  }
  try {
    const entry = await box.install({ user: 'box-init', from: 'local' }, opts.bundlePath);
    if (entry.outcome !== 'committed')
      throw new DrydockError('HEALTH_TIMEOUT', entry.reason ?? `the first release did not become healthy`);
    if (!config.name) {
      const yaml = YAML.stringify({
        ...config,
        name: entry.toVersion ? (await box.status()).running?.name : undefined,
      });
      await atomicWrite(paths.config, yaml, 0o600);
    }
    return entry;
  } catch (e) {
    // refused input on a fresh root: take back what init wrote, so the root is as it was
    if (fresh && asDrydockError(e).kind === 'refused') {
      await box.close();
      await undoInit(paths);
    }
    throw e;
  } finally {
    await box.close();
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function undoInit(paths: Layout): Promise<void> {
  for (const f of [paths.config, paths.trustedRoot, join(paths.etc, 'kubeconfig')])
    await rm(f, { force: true });
  await rm(paths.lib, { recursive: true, force: true });
}
