// The bundle's entry names and order. Metadata and release.json come first so that a reader can
// verify every signature before it reads (let alone stores) a single blob byte.
export const MARKER_NAME = 'drydock-bundle.json';
export const MARKER = { format: 'drydock-bundle', formatVersion: 1 } as const;
export const RELEASE_NAME = 'release.json';
/** the TUF target path of release.json inside a bundle */
export const RELEASE_TARGET = 'release.json';

export const metadataName = (role: string) => `metadata/${role}.json`;
export const rootName = (version: number) => `metadata/${version}.root.json`;
export const blobName = (hex: string) => `blobs/sha256/${hex}`;

export const ROOT_ENTRY = /^metadata\/([1-9]\d{0,8})\.root\.json$/;
export const META_ENTRY = /^metadata\/(timestamp|snapshot|targets)\.json$/;
export const BLOB_ENTRY = /^blobs\/sha256\/([a-f0-9]{64})$/;

/** Signed with release.json's target entry: which blobs a delta leaves to the box. */
export interface DeltaInfo {
  from: string;
  omitted: string[];
}

export function bundleFileName(name: string, version: string): string {
  return `${name}-${version}.drydock`;
}
