// What the engine needs from the other parts, as narrow function types, so that tests (and the
// bench) can pass the real parts in and nothing reaches around them. The defaults load the real
// parts: the bundle reader (updater/bundle), the channel client (updater/channel) and the cluster
// drivers (updater/cluster).
import type { BlobStore } from '../blobstore/index.ts';
import { readBundle, readBundleHead } from '../bundle/index.ts';
import { ChannelClient } from '../channel/index.ts';
import {
  type ClusterDriver,
  type ClusterKind,
  createClusterDriver,
  type KubernetesConnection,
} from '../cluster/index.ts';
import type { Release } from '../release/index.ts';

export type ReadBundle = (
  path: string,
  opts: {
    trustedRoot: unknown;
    blobs: BlobStore | null;
    onProgress?: (done: number, total: number | null) => void;
  },
) => Promise<{ release: Release; roots: unknown[] }>;

export interface Channel {
  refresh(): Promise<Release[]>;
  fetchBlobs(
    release: Release,
    store: BlobStore,
    opts: { onProgress?: (done: number, total: number | null) => void; signal?: AbortSignal },
  ): Promise<unknown>;
}

export type ChannelFactory = (opts: {
  url: string;
  channel: string;
  metadataDir: string;
  trustedRoot: string;
  fetch?: typeof fetch;
}) => Promise<Channel>;

export type DriverFactory = (
  kind: ClusterKind,
  opts: { root: string; kubernetes?: KubernetesConnection },
) => ClusterDriver | Promise<ClusterDriver>;

export const defaultReadBundle: ReadBundle = (path, opts) => {
  const { onProgress, ...rest } = opts;
  return readBundle(path, {
    ...rest,
    ...(onProgress ? { onProgress: (p) => onProgress(p.done, p.total) } : {}),
  });
};

/** Only the verified head of a bundle (metadata + release.json): policy is decided before any blob is stored. */
export type ReadBundleHead = (path: string, opts: { trustedRoot: unknown }) => Promise<{ release: Release }>;

export const defaultReadBundleHead: ReadBundleHead = (path, opts) => readBundleHead(path, opts);

export const defaultDriverFactory: DriverFactory = (kind, opts) => createClusterDriver(kind, opts);

/** updater/channel's ChannelClient (tuf-js), its per-blob progress summed into one figure. */
export const defaultChannelFactory: ChannelFactory = async (o) => {
  const client = new ChannelClient({
    url: o.url,
    channel: o.channel,
    trustedRoot: o.trustedRoot,
    cacheDir: o.metadataDir,
    ...(o.fetch ? { fetch: o.fetch } : {}),
  });
  return {
    refresh: () => client.refresh(),
    fetchBlobs: (release, store, opts) => {
      const done = new Map<string, number>();
      return client.fetchBlobs(release, store, {
        ...(opts.signal ? { signal: opts.signal } : {}),
        onProgress: (p) => {
          done.set(p.digest, p.done);
          let sum = 0;
          for (const v of done.values()) sum += v;
          opts.onProgress?.(sum, null);
        },
      });
    },
  };
};
