// Where the settings come from, tried in order: the OVF environment (VMware Tools, then the ISO
// transport), EC2 instance metadata (IMDSv2), a local file. The first source present wins.
import YAML from 'yaml';
import type { Exec } from './deps.ts';
import { type CloudFormationTarget, type ImdsCredentials, parseUserData, readImds } from './ec2.ts';
import { readText, under } from './fsutil.ts';
import { parseOvfEnvironment, readOvfFromIso, readOvfFromVmtools } from './ovf.ts';

export type SourceName = 'ovf' | 'ec2' | 'file';
export const SOURCE_ORDER: readonly SourceName[] = ['ovf', 'ec2', 'file'];
const DEFAULT_SETTINGS_FILE = 'etc/drydock/firstboot.yaml';

export interface SourceOptions {
  root: string;
  exec: Exec;
  fetch: typeof fetch;
  /** only this source (default: all, in order) */
  source?: SourceName;
  /** settings file, box path or absolute (default <root>/etc/drydock/firstboot.yaml) */
  file?: string;
  imdsUrl?: string;
  imdsTimeoutMs?: number;
  /** how long to retry IMDS while the network comes up (default 0: one try) */
  imdsWaitMs?: number;
}

export interface SettingsRead {
  source: SourceName | 'none';
  /** e.g. "vmtoolsd guestinfo.ovfEnv", "ISO transport", "IMDSv2", the file path */
  via: string;
  raw: Record<string, unknown>;
  instanceId: string | null;
  region: string | null;
  cloudformation: CloudFormationTarget | null;
  /** EC2: the SSM SecureString that holds the first admin password */
  passwordParameter: string | null;
  /** EC2: the instance role's credentials (IMDSv2) */
  credentials: (() => Promise<ImdsCredentials | null>) | null;
  /** the source was found but (part of) it is unusable */
  problems: string[];
}

function empty(source: SettingsRead['source'], via: string): SettingsRead {
  return {
    source,
    via,
    raw: {},
    instanceId: null,
    region: null,
    cloudformation: null,
    passwordParameter: null,
    credentials: null,
    problems: [],
  };
}

async function fromOvf(o: SourceOptions): Promise<SettingsRead | null> {
  let via = 'vmtoolsd guestinfo.ovfEnv';
  let xml = await readOvfFromVmtools(o.exec);
  if (!xml) {
    via = 'OVF ISO transport';
    xml = await readOvfFromIso(o.root);
  }
  if (!xml) return null;
  const r = empty('ovf', via);
  try {
    r.raw = parseOvfEnvironment(xml);
  } catch (e) {
    r.problems.push((e as Error).message);
  }
  return r;
}

async function fromEc2(o: SourceOptions): Promise<SettingsRead | null> {
  const md = await readImds({
    fetch: o.fetch,
    baseUrl: o.imdsUrl,
    timeoutMs: o.imdsTimeoutMs,
    waitMs: o.imdsWaitMs,
  });
  if (!md) return null;
  const r = empty('ec2', 'IMDSv2');
  const ud = parseUserData(md.userData);
  r.raw = ud.settings;
  r.instanceId = md.instanceId;
  r.region = ud.cloudformation?.region ?? md.region;
  r.cloudformation = ud.cloudformation;
  r.passwordParameter = ud.passwordParameter;
  r.credentials = md.credentials;
  if (ud.problem) r.problems.push(ud.problem);
  return r;
}

async function fromFile(o: SourceOptions): Promise<SettingsRead | null> {
  const path = o.file
    ? o.file.startsWith('/')
      ? o.file
      : under(o.root, o.file)
    : under(o.root, DEFAULT_SETTINGS_FILE);
  const text = await readText(path);
  if (text === null) return null;
  const r = empty('file', path);
  // the same shape as user data, or the keys at top level
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    r.problems.push(`${path} is not YAML: ${(e as Error).message.split('\n')[0]}`);
    return r;
  }
  const wrapped =
    doc && typeof doc === 'object' && 'drydock' in doc ? text : YAML.stringify({ drydock: doc ?? {} });
  const ud = parseUserData(wrapped);
  r.raw = ud.settings;
  r.cloudformation = ud.cloudformation;
  r.region = ud.cloudformation?.region ?? null;
  if (ud.problem) r.problems.push(ud.problem);
  return r;
}

const READERS: Record<SourceName, (o: SourceOptions) => Promise<SettingsRead | null>> = {
  ovf: fromOvf,
  ec2: fromEc2,
  file: fromFile,
};

export async function readSettings(o: SourceOptions): Promise<SettingsRead> {
  for (const name of o.source ? [o.source] : SOURCE_ORDER) {
    const r = await READERS[name](o);
    if (r) return r;
  }
  return empty('none', 'no OVF environment, no instance metadata, no settings file');
}
