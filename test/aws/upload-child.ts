// Runs one snapshot upload against a local EBS endpoint; the kill test SIGKILLs this process
// mid-upload to prove the journal survives a real crash.
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { uploadSnapshot } from '../../images/ami/index.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const [url, disk, journal] = process.argv.slice(2) as [string, string, string];
const common = {
  region: 'us-east-1',
  endpoint: url,
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
};
await uploadSnapshot({
  ebs: new EBSClient(common),
  ec2: new EC2Client(common),
  diskPath: disk,
  journalPath: journal,
  name: 'kill',
  region: 'us-east-1',
  concurrency: 4,
  journalFlushMs: 20,
  waitDelays: { min: 0.01, max: 0.02 },
});
