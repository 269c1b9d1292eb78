export { type BuildOptions, type BuildProgress, type BuildResult, buildBundle } from './build.ts';
export { bundleFileName, type DeltaInfo, MARKER_NAME, RELEASE_TARGET } from './format.ts';
export {
  type BundleLimits,
  DEFAULT_LIMITS,
  type ReadOptions,
  type ReadProgress,
  type ReadResult,
  readBundle,
  readBundleHead,
} from './read.ts';
export { type ParsedSpec, parseSpec, ReleaseSpec } from './spec.ts';
