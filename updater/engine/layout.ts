// Every on-box path (docs/architecture.md, "The box root"), under a box root (`/` on the
// appliance, a temp folder in tests).
import { join } from 'node:path';

export interface Layout {
  root: string;
  etc: string;
  config: string;
  trustedRoot: string;
  lib: string;
  db: string;
  blobs: string;
  releases: string;
  snapshots: string;
  secrets: string;
  tuf: string;
  manifests: string;
  release(version: string): string;
  snapshot(id: string): string;
}

export function layout(root: string): Layout {
  const lib = join(root, 'var/lib/drydock');
  return {
    root,
    etc: join(root, 'etc/drydock'),
    config: join(root, 'etc/drydock/config.yaml'),
    trustedRoot: join(root, 'etc/drydock/root.json'),
    lib,
    db: join(lib, 'state.db'),
    blobs: join(lib, 'blobs'),
    releases: join(lib, 'releases'),
    snapshots: join(lib, 'snapshots'),
    secrets: join(lib, 'secrets'),
    tuf: join(lib, 'tuf'),
    manifests: join(root, 'var/lib/rancher/k3s/server/manifests'),
    release: (version) => join(lib, 'releases', version),
    snapshot: (id) => join(lib, 'snapshots', id),
  };
}

/** A box-absolute path from config.yaml (e.g. /etc/drydock/root.json) resolved under the box root. */
export function underRoot(root: string, boxPath: string): string {
  return join(root, boxPath.replace(/^\/+/, ''));
}
