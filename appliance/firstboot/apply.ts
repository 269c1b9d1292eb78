// Each setting applied to the box root: plain configuration files that systemd, sshd and k3s read
// at their next start (first boot runs before them), plus a live nudge when the root is "/".
import { mkdir, readlink, symlink } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import YAML from 'yaml';
import { DrydockError } from '../../core/index.ts';
import type { Exec, Log } from './deps.ts';
import { readText, under, writeAtomic } from './fsutil.ts';
import { splitList } from './settings.ts';

export interface ApplyContext {
  root: string;
  exec: Exec;
  log: Log;
  /** true when root is the running system: also reload the services concerned */
  live: boolean;
}

export const PATHS = {
  hostname: 'etc/hostname',
  hosts: 'etc/hosts',
  network: 'etc/systemd/network/10-drydock.network',
  timesyncd: 'etc/systemd/timesyncd.conf.d/50-drydock.conf',
  initialAdmin: 'var/lib/drydock/secrets/initial-admin.json',
  authorizedKeys: 'root/.ssh/authorized_keys',
  // sorts before the image's 10-drydock.conf (PermitRootLogin no): sshd keeps the first value it reads
  sshdConfig: 'etc/ssh/sshd_config.d/05-drydock-firstboot.conf',
  sshWants: 'etc/systemd/system/multi-user.target.wants/ssh.service',
  config: 'etc/drydock/config.yaml',
  k3sEnv: 'etc/default/k3s',
  updaterEnv: 'etc/default/drydock-updater',
  tlsDir: 'etc/drydock/tls',
  firstbootDir: 'var/lib/drydock/firstboot',
  generatedSecrets: 'etc/drydock/generated-secrets.json',
  secretsManifest: 'var/lib/rancher/k3s/server/manifests/appliance-secrets.yaml',
  dataLabel: 'dev/disk/by-label/drydock-data',
  issueDir: 'etc/issue.d',
} as const;

export async function applyHostname(ctx: ApplyContext, name: string): Promise<void> {
  await writeAtomic(under(ctx.root, PATHS.hostname), `${name}\n`);
  const hostsPath = under(ctx.root, PATHS.hosts);
  const hosts =
    (await readText(hostsPath)) ?? '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';
  const short = name.split('.')[0]!;
  const line = `127.0.1.1\t${name === short ? name : `${name} ${short}`}`;
  const lines = hosts.split('\n').filter((l) => !/^127\.0\.1\.1\s/.test(l));
  const at = lines.findIndex((l) => /^127\.0\.0\.1\s/.test(l));
  lines.splice(at < 0 ? 0 : at + 1, 0, line);
  await writeAtomic(hostsPath, lines.join('\n'));
  if (ctx.live) await ctx.exec('hostnamectl', ['set-hostname', name]);
}

/** A static address, or DHCP (the safe default). DNS servers given with DHCP are added to DHCP's. */
function networkUnit(net: { ip?: string; gateway?: string; dns?: string }): string {
  const lines = [
    '# written by drydock first boot',
    '[Match]',
    // physical NICs only: k3s's cni0, flannel.1 and veth* stay unmanaged
    'Name=en* eth*',
    '',
    '[Network]',
  ];
  if (net.ip) {
    lines.push(`Address=${net.ip}`);
    if (net.gateway) lines.push(`Gateway=${net.gateway}`);
  } else lines.push('DHCP=yes');
  for (const d of splitList(net.dns ?? '')) lines.push(`DNS=${d}`);
  if (!net.ip) lines.push('', '[DHCPv4]', 'UseDomains=yes');
  return `${lines.join('\n')}\n`;
}

export async function applyNetwork(
  ctx: ApplyContext,
  net: { ip?: string; gateway?: string; dns?: string },
): Promise<void> {
  await writeAtomic(under(ctx.root, PATHS.network), networkUnit(net));
  if (ctx.live) await ctx.exec('networkctl', ['reload']);
}

export async function applyNtp(ctx: ApplyContext, servers: string): Promise<void> {
  await writeAtomic(
    under(ctx.root, PATHS.timesyncd),
    `# written by drydock first boot\n[Time]\nNTP=${splitList(servers).join(' ')}\n`,
  );
  if (ctx.live) await ctx.exec('systemctl', ['try-restart', 'systemd-timesyncd.service']);
}

export type PasswordSource = 'ovf' | 'ec2-ssm-parameter' | 'file' | 'instance-id';

/** The first password's hand-off: the service (updater/service/passwords.ts) hashes it and deletes it. */
export async function writeInitialAdmin(
  ctx: ApplyContext,
  password: string,
  source: PasswordSource,
  mustChange: boolean,
): Promise<void> {
  await writeAtomic(
    under(ctx.root, PATHS.initialAdmin),
    `${JSON.stringify({ password, source, mustChange })}\n`,
    0o600,
    0o700,
  );
}

/** SSH is off in the image (seal removes it from multi-user.target); a key turns it on, keys only. */
export async function applySshKey(ctx: ApplyContext, keys: string): Promise<void> {
  const text = `${keys
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .join('\n')}\n`;
  await writeAtomic(under(ctx.root, PATHS.authorizedKeys), text, 0o600, 0o700);
  await writeAtomic(
    under(ctx.root, PATHS.sshdConfig),
    '# written by drydock first boot: keys only\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n',
  );
  // the host keys were removed when the image was sealed; every box gets its own
  const kg = await ctx.exec('ssh-keygen', ['-A', '-f', ctx.root]);
  if (kg.code !== 0) ctx.log(`ssh-keygen -A failed: ${kg.stderr.trim()}`);
  const wants = under(ctx.root, PATHS.sshWants);
  if ((await readlink(wants).catch(() => null)) === null) {
    await mkdir(dirname(wants), { recursive: true });
    await symlink('/lib/systemd/system/ssh.service', wants);
  }
  if (ctx.live) await ctx.exec('systemctl', ['start', 'ssh.service']);
}

/** config.yaml (updater/engine/config.ts): only channelUrl and httpProxy change; box init's values stay. */
export async function applyUpdateSettings(
  ctx: ApplyContext,
  s: { channelUrl?: string; httpProxy?: string },
): Promise<void> {
  const path = under(ctx.root, PATHS.config);
  const text = await readText(path);
  const doc = YAML.parseDocument(text ?? '');
  if (!doc.contents) doc.contents = doc.createNode({}) as never;
  if (s.channelUrl) doc.set('channelUrl', s.channelUrl);
  if (s.httpProxy) doc.set('httpProxy', s.httpProxy);
  // the proxy URL may carry credentials: owner-only, like the files below
  await writeAtomic(path, doc.toString(), 0o600);
  if (s.httpProxy) {
    // settings.ts refused control characters and normalised the URL; this is the last line of
    // defence for the one file format where a line break becomes a new variable
    if (!/^[!#%&(-;=?-[\]-~]+$/.test(s.httpProxy))
      throw new DrydockError('FIRSTBOOT_SETTING_INVALID', 'the HTTP proxy is not a normalised URL');
    // k3s passes HTTP(S)_PROXY to containerd; it adds the cluster CIDRs to NO_PROXY itself
    const env = `# written by drydock first boot\nHTTP_PROXY=${s.httpProxy}\nHTTPS_PROXY=${s.httpProxy}\nNO_PROXY=127.0.0.0/8,localhost,10.42.0.0/16,10.43.0.0/16,.svc,.cluster.local\n`;
    await writeAtomic(under(ctx.root, PATHS.k3sEnv), env, 0o600);
    await writeAtomic(under(ctx.root, PATHS.updaterEnv), env, 0o600);
  }
}

/** Names and addresses for the certificate: hostname, its short form, the static address, loopback. */
export function certificateSubjects(
  hostname: string | undefined,
  ip: string | undefined,
): { names: string[]; ips: string[] } {
  const names = new Set<string>(['localhost']);
  if (hostname) {
    names.add(hostname);
    names.add(hostname.split('.')[0]!);
  }
  const ips = new Set<string>(['127.0.0.1']);
  const addr = ip?.split('/')[0];
  if (addr && isIP(addr)) ips.add(addr);
  return { names: [...names], ips: [...ips] };
}
