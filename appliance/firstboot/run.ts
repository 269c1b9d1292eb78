// First boot: read the settings, refuse the bad ones (safe defaults instead), apply the rest, make
// the certificate, grow the data disk, record it. Done once: a later boot with nothing pending
// writes nothing at all; refused or missing required settings are read again at the next boot.
import { X509Certificate } from 'node:crypto';
import {
  type ApplyContext,
  applyHostname,
  applyNetwork,
  applyNtp,
  applySshKey,
  applyUpdateSettings,
  certificateSubjects,
  PATHS,
  type PasswordSource,
  writeInitialAdmin,
} from './apply.ts';
import {
  type FirstbootResult,
  type PasswordState,
  type Problem,
  writeBanner,
  writeProblems,
} from './console.ts';
import { defaultExec, type Exec, type Log } from './deps.ts';
import { readText, under, writeAtomic } from './fsutil.ts';
import { growDataFilesystem } from './grow.ts';
import { ensureGeneratedSecrets } from './secrets.ts';
import { checkPassword, checkSettings, type SettingKey } from './settings.ts';
import { readSettings, type SettingsRead, type SourceName } from './sources.ts';
import { readPasswordParameter } from './ssm.ts';

export interface FirstbootOptions {
  root: string;
  source?: SourceName;
  file?: string;
  exec?: Exec;
  fetch?: typeof fetch;
  imdsUrl?: string;
  imdsTimeoutMs?: number;
  /** retry IMDS this long while the network comes up (default 0) */
  imdsWaitMs?: number;
  /** SSM endpoint for the admin password parameter (default: the region's) */
  ssmEndpoint?: string;
  now?: () => Date;
  log?: Log;
  /** also reload the running services (default: root === "/") */
  live?: boolean;
}

interface DoneState {
  at: string;
  source: string;
  pending: string[];
  password: PasswordState;
}

const DONE_FILE = `${PATHS.firstbootDir}/done.json`;
const RESULT_FILE = `${PATHS.firstbootDir}/result.json`;
export const AWS_FILE = `${PATHS.firstbootDir}/aws.json`;

const NETWORK: SettingKey[] = ['ip', 'gateway', 'dns'];
const PASSWORD_SOURCE: Record<string, PasswordSource> = { ovf: 'ovf', file: 'file' };

export async function runFirstboot(opts: FirstbootOptions): Promise<FirstbootResult> {
  const root = opts.root;
  const exec = opts.exec ?? defaultExec;
  const log = opts.log ?? (() => {});
  const now = (opts.now ?? (() => new Date()))().toISOString();
  const ctx: ApplyContext = { root, exec, log, live: opts.live ?? root === '/' };

  const doneText = await readText(under(root, DONE_FILE));
  const done = doneText ? (JSON.parse(doneText) as DoneState) : null;
  if (done && done.pending.length === 0) {
    return {
      status: 'already-done',
      at: done.at,
      source: done.source,
      via: '',
      applied: [],
      pending: [],
      problems: [],
      notes: ['first boot ran already; nothing changed'],
      password: done.password,
    };
  }
  // on a later boot only what was refused or missing is looked at again
  // ("source" pending: the whole source was unusable, so everything is read again)
  const want = (k: SettingKey) => !done || done.pending.includes(k) || done.pending.includes('source');

  const read = await readSettings({
    root,
    exec,
    fetch: opts.fetch ?? fetch,
    source: opts.source,
    file: opts.file,
    imdsUrl: opts.imdsUrl,
    imdsTimeoutMs: opts.imdsTimeoutMs,
    imdsWaitMs: opts.imdsWaitMs,
  });
  const { values, problems: checks } = checkSettings(read.raw);
  const problems: Problem[] = [
    ...read.problems.map((message) => ({
      key: 'source',
      code: 'FIRSTBOOT_SETTING_INVALID' as const,
      message,
    })),
    ...checks.map((p) => ({ key: p.key, code: 'FIRSTBOOT_SETTING_INVALID' as const, message: p.message })),
  ];
  const bad = new Set(checks.map((p) => p.key));
  const applied: string[] = [];
  const pending = new Set<string>();
  const notes: string[] = [];
  const ok = (k: SettingKey) => values[k] !== undefined && !bad.has(k);
  if (read.problems.length) pending.add('source');
  const refuse = (k: SettingKey) => {
    if (values[k] !== undefined && bad.has(k)) pending.add(k);
  };

  if (want('hostname')) {
    if (ok('hostname')) {
      await applyHostname(ctx, values.hostname!);
      applied.push('hostname');
    } else refuse('hostname');
  }

  if (NETWORK.some(want)) {
    if (NETWORK.some((k) => bad.has(k))) {
      // one bad part makes the static set unusable: DHCP keeps the box reachable
      await applyNetwork(ctx, {});
      for (const k of NETWORK) if (values[k] !== undefined) pending.add(k);
      notes.push('network: static settings refused, DHCP used instead');
    } else {
      await applyNetwork(ctx, { ip: values.ip, gateway: values.gateway, dns: values.dns });
      applied.push(values.ip ? 'network (static)' : 'network (DHCP)');
    }
  }

  if (want('ntp')) {
    if (ok('ntp')) {
      await applyNtp(ctx, values.ntp!);
      applied.push('ntp');
    } else refuse('ntp');
  }

  let password: PasswordState = done?.password ?? 'none';
  // a password handed to the service once is never handed over again: the admin may have changed it
  const handedOver = done?.password === 'set' || done?.password === 'instance-id';
  if (want('admin_password') && !handedOver) {
    const given = await deployerPassword(read, values, bad, opts.ssmEndpoint);
    if (given.problem) {
      problems.push({ key: 'admin_password', code: 'FIRSTBOOT_SETTING_INVALID', message: given.problem });
      bad.add('admin_password');
    }
    if (given.password !== undefined) {
      // every password a deployer typed into a form or a file is known to more than the admin:
      // the service makes the admin replace it at the first sign-in
      await writeInitialAdmin(ctx, given.password, given.source, true);
      applied.push('admin_password (must change at first sign-in)');
      password = 'set';
    } else if (read.instanceId && !done) {
      // AWS without a usable password: the instance ID, known only to whoever can see the instance
      await writeInitialAdmin(ctx, read.instanceId, 'instance-id', true);
      applied.push('admin_password (instance ID, must change)');
      password = 'instance-id';
      if (given.problem) notes.push('admin password not usable: the instance ID is used instead');
    } else {
      pending.add('admin_password');
      password = given.problem ? 'refused' : 'none';
    }
  }

  if (want('ssh_key')) {
    if (ok('ssh_key')) {
      await applySshKey(ctx, values.ssh_key!);
      applied.push('ssh_key (SSH enabled, keys only)');
    } else refuse('ssh_key');
  }

  const upd: { channelUrl?: string; httpProxy?: string } = {};
  if (want('channel_url')) {
    if (ok('channel_url')) upd.channelUrl = values.channel_url;
    else refuse('channel_url');
  }
  if (want('http_proxy')) {
    if (ok('http_proxy')) upd.httpProxy = values.http_proxy;
    else refuse('http_proxy');
  }
  if (upd.channelUrl || upd.httpProxy) {
    await applyUpdateSettings(ctx, upd);
    if (upd.channelUrl) applied.push('channel_url');
    if (upd.httpProxy) applied.push('http_proxy');
  }

  // the certificate follows the final names; the service's ensureCertificate remakes its own
  // self-signed pair when a name is missing and leaves an uploaded one alone (loaded here only,
  // as cli/updater.ts does: first boot needs the service part for this step alone)
  const hostname = (await readText(under(root, PATHS.hostname)))?.trim() || undefined;
  const subjects = certificateSubjects(
    hostname,
    ok('ip') && !NETWORK.some((k) => bad.has(k)) ? values.ip : undefined,
  );
  const { ensureCertificate } = await import('../../updater/service/index.ts');
  await ensureCertificate({ dir: under(root, PATHS.tlsDir), ...subjects });
  notes.push(`TLS certificate for ${[...subjects.names, ...subjects.ips].join(', ')}`);
  // printed to the console (the EC2 system log, the VM console), so the admin can check the
  // self-signed certificate before trusting it on the first visit
  const certPem = await readText(under(root, `${PATHS.tlsDir}/cert.pem`));
  if (certPem) {
    try {
      notes.push(`TLS certificate SHA-256 ${new X509Certificate(certPem).fingerprint256}`);
    } catch {
      notes.push('TLS certificate: cert.pem is not a readable certificate');
    }
  }

  if (!done) {
    const grow = await growDataFilesystem(root, exec);
    notes.push(grow.message);
    const secrets = await ensureGeneratedSecrets(root);
    if (secrets) notes.push(`${secrets} backend secret(s) generated`);
    if (read.cloudformation && read.instanceId) {
      await writeAtomic(
        under(root, AWS_FILE),
        `${JSON.stringify({ ...read.cloudformation, region: read.region, instanceId: read.instanceId }, null, 2)}\n`,
        0o600,
        0o700,
      );
      notes.push(
        `CloudFormation stack ${read.cloudformation.stack} is signalled once the backend is healthy`,
      );
    }
  }

  const result: FirstbootResult = {
    status: problems.length ? 'applied-with-problems' : 'applied',
    at: now,
    source: read.source,
    via: read.via,
    applied,
    pending: [...pending],
    problems,
    notes,
    password,
  };
  // first boot's records stay with root (the admin page reads them through the service)
  await writeAtomic(under(root, RESULT_FILE), `${JSON.stringify(result, null, 2)}\n`, 0o600, 0o700);
  await writeProblems(root, problems);
  await writeBanner(root);
  // done.json last: a crash before it means the whole first boot runs again
  await writeAtomic(
    under(root, DONE_FILE),
    `${JSON.stringify({ at: now, source: read.source, pending: [...pending], password } satisfies DoneState, null, 2)}\n`,
    0o600,
    0o700,
  );
  return result;
}

/**
 * The password the deployer supplied, from where this source keeps it: the OVF property or the
 * settings file carry it in `admin_password`; on EC2 it is only ever an SSM SecureString named in
 * the user data (a password written into user data is refused: DescribeInstanceAttribute and
 * every process that reaches IMDS read user data in plain text).
 */
async function deployerPassword(
  read: SettingsRead,
  values: Partial<Record<SettingKey, string>>,
  bad: Set<SettingKey>,
  ssmEndpoint: string | undefined,
): Promise<{ password?: string; source: PasswordSource; problem?: string }> {
  if (read.source !== 'ec2') {
    const source = PASSWORD_SOURCE[read.source] ?? 'file';
    if (values.admin_password === undefined || bad.has('admin_password')) return { source };
    return { password: values.admin_password, source };
  }
  const source: PasswordSource = 'ec2-ssm-parameter';
  if (values.admin_password !== undefined)
    return {
      source,
      problem:
        'an admin password in EC2 user data is refused (user data is readable by anyone who may describe the instance); put it in an SSM SecureString and name it in drydock.admin_password_parameter',
    };
  if (!read.passwordParameter) return { source };
  const region = read.region ?? regionOfArn(read.passwordParameter);
  if (!region) return { source, problem: 'no region known to read the admin password parameter in' };
  const credentials = await read.credentials?.();
  if (!credentials)
    return {
      source,
      problem: `no instance role credentials from the instance metadata to read SSM parameter ${read.passwordParameter}`,
    };
  const got = await readPasswordParameter({
    name: read.passwordParameter,
    region: regionOfArn(read.passwordParameter) ?? region,
    credentials,
    endpoint: ssmEndpoint,
  });
  if (!got.ok) return { source, problem: got.reason };
  const weak = checkPassword(got.password!);
  if (weak) return { source, problem: `SSM parameter ${read.passwordParameter}: ${weak}` };
  return { password: got.password!, source };
}

function regionOfArn(name: string): string | null {
  return /^arn:[^:]+:ssm:([^:]+):/.exec(name)?.[1] ?? null;
}
