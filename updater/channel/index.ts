export { ChannelClient, type ChannelClientOptions, type FetchProgress, type FetchResult } from './client.ts';
export {
  type ChannelIndex,
  type ChannelIndexEntry,
  DEFAULT_EXPIRY,
  type ExpiryDays,
  hashedTargetPath,
  indexTarget,
  type PublishOptions,
  publishBundle,
  refreshChannel,
  releaseTarget,
} from './repo.ts';
