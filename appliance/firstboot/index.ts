export { PATHS } from './apply.ts';
export { bannerText, type FirstbootResult, type Problem, writeBanner } from './console.ts';
export { defaultExec, type Exec, type ExecResult } from './deps.ts';
export { type CloudFormationTarget, IMDS_URL, parseUserData, readImds } from './ec2.ts';
export { readIsoFile, readIsoVolumeId } from './iso9660.ts';
export { OVF_ISO_LABEL, parseOvfEnvironment, readOvfFromIso, readOvfFromVmtools } from './ovf.ts';
export {
  AWS_FILE,
  DONE_FILE,
  type FirstbootOptions,
  firstbootDone,
  RESULT_FILE,
  readResult,
  runFirstboot,
} from './run.ts';
export { type GeneratedSecretSpec, GeneratedSecrets } from './secrets.ts';
export * from './settings.ts';
export { engineHealth, type Health, type SignalOptions, type SignalOutcome, signalStack } from './signal.ts';
export { readSettings, SOURCE_ORDER, type SourceName } from './sources.ts';
export { type EnsureCertificate, opensslCertificate, serviceEnsureCertificate } from './tls.ts';
