// AMI publication straight from a raw disk: EBS direct APIs for the snapshot, EC2 for the images,
// SSM for the parameters the CloudFormation template reads.
export { BLOCK_SIZE, blockChecksum, linearChecksum } from './blocks.ts';
export { type AwsClients, defaultAwsClients } from './clients.ts';
export { type Journal, loadJournal } from './journal.ts';
export type { BootMode } from './options.ts';
export { journalPathFor, type PublishOptions, type PublishResult, publishAmi } from './publish.ts';
export { type UploadOptions, type UploadProgress, type UploadResult, uploadSnapshot } from './upload.ts';
