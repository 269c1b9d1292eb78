// AMI publication straight from a raw disk: EBS direct APIs for the snapshot, EC2 for the images,
// SSM for the parameters the CloudFormation template reads.
export { awsError } from './aws-error.ts';
export {
  BLOCK_SIZE,
  blockChecksum,
  blockCount,
  isZeroBlock,
  linearChecksum,
  volumeSizeGiB,
} from './blocks.ts';
export { type AwsClients, defaultAwsClients } from './clients.ts';
export { type Journal, loadJournal } from './journal.ts';
export { BOOT_MODES, type BootMode, checkPublishInput, REGION_PATTERN } from './options.ts';
export { journalPathFor, type PublishOptions, type PublishResult, publishAmi } from './publish.ts';
export { type UploadOptions, type UploadProgress, type UploadResult, uploadSnapshot } from './upload.ts';
