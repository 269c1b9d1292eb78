// What the box accepts: never a lower (or the same) version than the one running, except a rollback
// to the retained previous release; upgradeFrom must match; k3s moves at most one minor per release.
import semver from 'semver';
import { DrydockError } from '../../core/index.ts';
import type { Release } from '../release/index.ts';

export interface Running {
  name: string;
  version: string;
  k3sVersion: string | null;
}

/** Throws the policy error for installing `next` over `running` as an update; null running = first install. */
export function checkUpdatePolicy(running: Running | null, next: Release): void {
  if (!running) return;
  if (next.name !== running.name)
    throw new DrydockError(
      'UPGRADE_PATH_INVALID',
      `release "${next.name}" is not for this box, which runs "${running.name}"`,
    );
  if (semver.eq(next.version, running.version))
    throw new DrydockError('DOWNGRADE_REFUSED', `${next.version} is already running`);
  if (semver.lt(next.version, running.version))
    throw new DrydockError(
      'DOWNGRADE_REFUSED',
      `${next.version} is lower than the running ${running.version}; only a rollback to the retained previous release may go back`,
    );
  if (!semver.satisfies(running.version, next.upgradeFrom, { includePrerelease: true }))
    throw new DrydockError(
      'UPGRADE_PATH_INVALID',
      `${next.version} upgrades from "${next.upgradeFrom}", and this box runs ${running.version}`,
    );
  checkK3sSkew(running.k3sVersion, next.k3s?.version ?? null);
}

/** k3s may stay, or move up exactly one minor version (Kubernetes' own skew rule); never down. */
export function checkK3sSkew(current: string | null, next: string | null): void {
  if (!next || !current) return;
  const a = semver.coerce(current);
  const b = semver.coerce(next);
  if (!a || !b) throw new DrydockError('K3S_SKEW', `cannot compare k3s versions ${current} and ${next}`);
  if (a.major !== b.major || b.minor < a.minor || b.minor - a.minor > 1)
    throw new DrydockError(
      'K3S_SKEW',
      `k3s ${next} is more than one minor version away from the running ${current} (one minor up at a time)`,
    );
}
