import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { PATHS, readImds, readIsoFile, readIsoVolumeId, runFirstboot } from '../../appliance/index.ts';
import { makeRoot, recordingExec, snapshotTree, startImds } from './helpers.ts';

const FIX = join(import.meta.dirname, 'fixtures');
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function box() {
  const b = makeRoot();
  cleanups.push(b.cleanup);
  return b.root;
}

/** The OVF ISO transport: a real ISO 9660 image labelled "OVF ENV", attached as /dev/sr0 with udev's link. */
function attachOvfIso(root: string, envFile: string, label = 'OVF ENV'): string {
  const stage = join(root, '..', `${root.split('/').pop()}-iso`);
  mkdirSync(stage, { recursive: true });
  copyFileSync(envFile, join(stage, 'ovf-env.xml'));
  const iso = `${stage}.iso`;
  execFileSync('genisoimage', ['-quiet', '-V', label, '-J', '-R', '-o', iso, stage]);
  cleanups.push(() => execFileSync('rm', ['-rf', stage, iso]));
  mkdirSync(join(root, 'dev/disk/by-label'), { recursive: true });
  copyFileSync(iso, join(root, 'dev/sr0'));
  symlinkSync('../../sr0', join(root, 'dev/disk/by-label', label.replace(/ /g, '\\x20')));
  return iso;
}

function dataDisk(root: string) {
  // /dev/disk/by-label/drydock-data -> /dev/vdb1, partition 1 of vdb (sysfs as the kernel shows it)
  mkdirSync(join(root, 'sys/block/vdb/vdb1'), { recursive: true });
  writeFileSync(join(root, 'sys/block/vdb/vdb1/partition'), '1\n');
  mkdirSync(join(root, 'sys/class/block'), { recursive: true });
  symlinkSync('../../block/vdb/vdb1', join(root, 'sys/class/block/vdb1'));
  writeFileSync(join(root, 'dev/vdb1'), '');
  symlinkSync('../../vdb1', join(root, 'dev/disk/by-label/drydock-data'));
}

function read(root: string, p: string): string {
  return readFileSync(join(root, p), 'utf8');
}

describe('ISO 9660 reader', () => {
  it('reads the volume label and ovf-env.xml from a genisoimage ISO', async () => {
    const root = box();
    const iso = attachOvfIso(root, join(FIX, 'ovf-env.xml'));
    expect(await readIsoVolumeId(iso)).toBe('OVF ENV');
    expect((await readIsoFile(iso, 'ovf-env.xml'))?.toString()).toBe(
      readFileSync(join(FIX, 'ovf-env.xml'), 'utf8'),
    );
    expect(await readIsoFile(iso, 'missing.xml')).toBeNull();
  });
});

describe('first boot from the OVF environment (ISO transport)', () => {
  it('applies every setting, then a second boot changes nothing', async () => {
    const root = box();
    attachOvfIso(root, join(FIX, 'ovf-env.xml'));
    dataDisk(root);
    mkdirSync(join(root, 'etc/drydock'), { recursive: true });
    writeFileSync(
      join(root, 'etc/drydock/config.yaml'),
      'name: Portal\ncluster: k3s\ntrustedRoot: /etc/drydock/root.json\n',
    );
    writeFileSync(
      join(root, 'etc/drydock/generated-secrets.json'),
      JSON.stringify([{ namespace: 'portal', name: 'portal-credentials', keys: ['postgres-password'] }]),
    );
    const { exec, calls } = recordingExec();
    const r = await runFirstboot({ root, exec, fetch: () => Promise.reject(new Error('no network')) });

    expect(r.source).toBe('ovf');
    expect(r.via).toBe('OVF ISO transport');
    expect(r.problems).toEqual([]);
    expect(r.status).toBe('applied');
    expect(read(root, 'etc/hostname')).toBe('portal01.example.com\n');
    expect(read(root, 'etc/hosts')).toContain('127.0.1.1\tportal01.example.com portal01');
    const net = read(root, PATHS.network);
    expect(net).toContain('Address=192.0.2.10/24');
    expect(net).toContain('Gateway=192.0.2.1');
    expect(net).toContain('DNS=192.0.2.53\nDNS=198.51.100.53');
    expect(net).not.toContain('DHCP=yes');
    expect(read(root, PATHS.timesyncd)).toContain('NTP=ntp1.example.com 192.0.2.123');
    // the first password's hand-off to the service, XML entities decoded, owner-only
    const admin = JSON.parse(read(root, PATHS.initialAdmin));
    // a password typed into the vApp form is known to more than the admin: changed at first sign-in
    expect(admin).toEqual({ password: 'Correct&Horse-42"x', source: 'ovf', mustChange: true });
    expect(statSync(join(root, PATHS.initialAdmin)).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'var/lib/drydock/secrets')).mode & 0o777).toBe(0o700);
    // the other VM's property in <Entity> is not ours
    expect(read(root, 'etc/hostname')).not.toContain('not-this-one');
    // config.yaml keeps what box init wrote and gains the channel
    expect(YAML.parse(read(root, PATHS.config))).toEqual({
      name: 'Portal',
      cluster: 'k3s',
      trustedRoot: '/etc/drydock/root.json',
      channelUrl: 'https://updates.example.com/portal/',
    });
    // SSH stays off without a key
    expect(existsSync(join(root, PATHS.sshWants))).toBe(false);
    expect(existsSync(join(root, PATHS.authorizedKeys))).toBe(false);
    // a real certificate with the box's names
    const cert = new X509Certificate(read(root, 'etc/drydock/tls/cert.pem'));
    expect(cert.subjectAltName).toContain('DNS:portal01.example.com');
    expect(cert.subjectAltName).toContain('IP Address:192.0.2.10');
    expect(statSync(join(root, 'etc/drydock/tls/key.pem')).mode & 0o777).toBe(0o600);
    // its fingerprint goes to the console, where the admin checks it before trusting the page
    expect(r.notes).toContain(`TLS certificate SHA-256 ${cert.fingerprint256}`);
    // growpart on the parent disk and partition number, then resize2fs on the partition
    expect(calls).toContainEqual(['growpart', '/dev/vdb', '1']);
    expect(calls).toContainEqual(['resize2fs', '/dev/vdb1']);
    // per-box backend secrets, random
    const sec = YAML.parse(read(root, PATHS.secretsManifest));
    expect(sec.metadata).toMatchObject({ name: 'portal-credentials', namespace: 'portal' });
    expect(sec.stringData['postgres-password']).toMatch(/^[0-9a-f]{48}$/);
    // the console banner and the admin page's record
    expect(read(root, 'etc/issue.d/40-drydock.issue')).toContain(
      'https://\\4/   (or https://portal01.example.com/)',
    );
    expect(existsSync(join(root, 'etc/issue.d/45-drydock-firstboot.issue'))).toBe(false);
    expect(JSON.parse(read(root, 'var/lib/drydock/firstboot/result.json')).problems).toEqual([]);
    // the password never reaches the record
    expect(read(root, 'var/lib/drydock/firstboot/result.json')).not.toContain('Horse');

    const before = snapshotTree(root);
    const again = recordingExec();
    const r2 = await runFirstboot({
      root,
      exec: again.exec,
      fetch: () => Promise.reject(new Error('no network')),
    });
    expect(r2.status).toBe('already-done');
    expect(again.calls).toEqual([]);
    expect(snapshotTree(root)).toEqual(before);
  });

  it('does not wait on a VMware Tools call that hangs', async () => {
    const { readOvfFromVmtools } = await import('../../appliance/index.ts');
    const t0 = Date.now();
    expect(await readOvfFromVmtools(() => new Promise(() => {}), 200)).toBeNull();
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('ignores a CD with another label', async () => {
    const root = box();
    attachOvfIso(root, join(FIX, 'ovf-env.xml'), 'DATA');
    const { exec } = recordingExec();
    const r = await runFirstboot({ root, exec, source: 'ovf', fetch: () => Promise.reject(new Error('x')) });
    expect(r.source).toBe('none');
    expect(existsSync(join(root, 'etc/hostname'))).toBe(false);
  });

  it('reads the environment from VMware Tools first', async () => {
    const root = box();
    const xml = readFileSync(join(FIX, 'ovf-env.xml'), 'utf8');
    const { exec, calls } = recordingExec({
      vmtoolsd: (args) =>
        args.join(' ') === '--cmd info-get guestinfo.ovfEnv'
          ? { stdout: xml, code: 0 }
          : { stdout: '', code: 1 },
    });
    const r = await runFirstboot({ root, exec, fetch: () => Promise.reject(new Error('x')) });
    expect(r.via).toBe('vmtoolsd guestinfo.ovfEnv');
    expect(calls[0]).toEqual(['vmtoolsd', '--cmd', 'info-get guestinfo.ovfEnv']);
    expect(read(root, 'etc/hostname')).toBe('portal01.example.com\n');
  });
});

describe('on the running system (root "/")', () => {
  it('also nudges the services it configured', async () => {
    const root = box();
    const xml = readFileSync(join(FIX, 'ovf-env.xml'), 'utf8');
    const { exec, calls } = recordingExec({
      vmtoolsd: () => ({ stdout: xml, code: 0 }),
      hostnamectl: () => ({ stdout: '', code: 0 }),
      networkctl: () => ({ stdout: '', code: 0 }),
      systemctl: () => ({ stdout: '', code: 0 }),
    });
    await runFirstboot({ root, exec, live: true, fetch: () => Promise.reject(new Error('x')) });
    const live = calls.filter((c) => ['hostnamectl', 'networkctl', 'systemctl'].includes(c[0]!));
    expect(live).toEqual([
      ['hostnamectl', 'set-hostname', 'portal01.example.com'],
      ['networkctl', 'reload'],
      ['systemctl', 'try-restart', 'systemd-timesyncd.service'],
    ]);
  });
});

describe('bad settings are refused, the box stays reachable', () => {
  it('falls back to DHCP, keeps no weak password, tells the console and the admin page, retries next boot', async () => {
    const root = box();
    attachOvfIso(root, join(FIX, 'ovf-env-bad.xml'));
    const { exec } = recordingExec();
    const r = await runFirstboot({ root, exec, fetch: () => Promise.reject(new Error('x')) });
    expect(r.status).toBe('applied-with-problems');
    expect(r.problems.map((p) => p.key).sort()).toEqual(['admin_password', 'ip']);
    expect(r.problems.every((p) => p.code === 'FIRSTBOOT_SETTING_INVALID')).toBe(true);
    // the good setting (class-prefixed key) still applies
    expect(read(root, 'etc/hostname')).toBe('portal02\n');
    const net = read(root, PATHS.network);
    expect(net).toContain('DHCP=yes');
    expect(net).not.toContain('Address=');
    expect(net).not.toContain('Gateway=');
    expect(existsSync(join(root, PATHS.initialAdmin))).toBe(false);
    const console = read(root, 'etc/issue.d/45-drydock-firstboot.issue');
    expect(console).toContain('ip: "192.0.2.300" is not an IP address');
    expect(console).toContain('admin_password: the admin password needs at least 12 characters');
    expect(read(root, 'etc/issue.d/40-drydock.issue')).toContain('No admin password is set yet');
    const saved = JSON.parse(read(root, 'var/lib/drydock/firstboot/result.json'));
    expect(saved.problems).toHaveLength(2);
    expect(saved.pending.sort()).toEqual(['admin_password', 'gateway', 'ip']);

    // the admin corrects the properties and restarts: only the pending ones are applied
    const fixed = readFileSync(join(FIX, 'ovf-env-bad.xml'), 'utf8')
      .replace('portal02', 'renamed')
      .replace('192.0.2.300/24', '192.0.2.30/24')
      .replace('oe:value="admin"', 'oe:value="Another-Good-Pass-7"');
    const fixedFile = join(root, '..', `${root.split('/').pop()}-fixed.xml`);
    writeFileSync(fixedFile, fixed);
    cleanups.push(() => execFileSync('rm', ['-f', fixedFile]));
    execFileSync('rm', ['-f', join(root, 'dev/sr0'), join(root, 'dev/disk/by-label/OVF\\x20ENV')]);
    attachOvfIso(root, fixedFile);
    const r2 = await runFirstboot({ root, exec, fetch: () => Promise.reject(new Error('x')) });
    expect(r2.problems).toEqual([]);
    expect(read(root, 'etc/hostname')).toBe('portal02\n'); // applied before: not touched again
    expect(read(root, PATHS.network)).toContain('Address=192.0.2.30/24');
    expect(JSON.parse(read(root, PATHS.initialAdmin)).password).toBe('Another-Good-Pass-7');
    expect(existsSync(join(root, 'etc/issue.d/45-drydock-firstboot.issue'))).toBe(false);
    const before = snapshotTree(root);
    expect((await runFirstboot({ root, exec, fetch: () => Promise.reject(new Error('x')) })).status).toBe(
      'already-done',
    );
    expect(snapshotTree(root)).toEqual(before);
  });

  it('refuses an unparsable OVF document as a whole and uses DHCP', async () => {
    const root = box();
    const { exec } = recordingExec({
      vmtoolsd: () => ({ stdout: '<Environment xmlns="urn:other"/>', code: 0 }),
    });
    const r = await runFirstboot({ root, exec, fetch: () => Promise.reject(new Error('x')) });
    expect(r.problems[0]?.key).toBe('source');
    expect(read(root, PATHS.network)).toContain('DHCP=yes');
    // the whole environment is read again at the next boot
    const xml = readFileSync(join(FIX, 'ovf-env.xml'), 'utf8');
    const fixed = recordingExec({ vmtoolsd: () => ({ stdout: xml, code: 0 }) });
    const r2 = await runFirstboot({ root, exec: fixed.exec, fetch: () => Promise.reject(new Error('x')) });
    expect(r2.problems).toEqual([]);
    expect(read(root, 'etc/hostname')).toBe('portal01.example.com\n');
    expect(read(root, PATHS.network)).toContain('Address=192.0.2.10/24');
  });
});

describe('first boot on EC2 (IMDSv2 on 127.0.0.1)', () => {
  it('uses user data, the instance ID as a must-change password, and records the stack to signal', async () => {
    const imds = await startImds({
      userData: readFileSync(join(FIX, 'user-data.yaml'), 'utf8'),
      instanceId: 'i-0123456789abcdef0',
      region: 'eu-west-1',
    });
    cleanups.push(imds.close);
    // the stand-in is faithful: without a token IMDSv2 answers 401
    expect((await fetch(`${imds.url}/latest/user-data`)).status).toBe(401);
    const root = box();
    const { exec } = recordingExec();
    const r = await runFirstboot({ root, exec, fetch, imdsUrl: imds.url });
    expect(r.source).toBe('ec2');
    expect(r.problems).toEqual([]);
    expect(imds.requests[1]).toBe('PUT /latest/api/token');
    expect(read(root, 'etc/hostname')).toBe('portal-aws\n');
    expect(read(root, PATHS.network)).toContain('DHCP=yes');
    expect(JSON.parse(read(root, PATHS.initialAdmin))).toEqual({
      password: 'i-0123456789abcdef0',
      source: 'instance-id',
      mustChange: true,
    });
    expect(read(root, 'etc/issue.d/40-drydock.issue')).toContain("instance's ID");
    expect(read(root, PATHS.k3sEnv)).toContain('HTTPS_PROXY=http://proxy.internal:3128');
    expect(read(root, PATHS.updaterEnv)).toContain('HTTP_PROXY=http://proxy.internal:3128');
    expect(YAML.parse(read(root, PATHS.config))).toEqual({
      channelUrl: 'https://updates.example.com/portal/',
      httpProxy: 'http://proxy.internal:3128',
    });
    expect(JSON.parse(read(root, 'var/lib/drydock/firstboot/aws.json'))).toEqual({
      stack: 'drydock-portal',
      resource: 'Appliance',
      region: 'eu-west-1',
      instanceId: 'i-0123456789abcdef0',
    });
  });

  it('refuses a password written into user data (instance ID instead); SSH comes on with keys only', async () => {
    const root = box();
    const keyFile = join(root, 'k');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ops@example', '-f', keyFile]);
    const pub = readFileSync(`${keyFile}.pub`, 'utf8').trim();
    const imds = await startImds({
      userData: YAML.stringify({ drydock: { admin_password: 'Sturdy-Password-2026', ssh_key: pub } }),
      instanceId: 'i-0fedcba9876543210',
      region: 'us-east-1',
    });
    cleanups.push(imds.close);
    const { exec } = recordingExec();
    const r = await runFirstboot({ root, exec, fetch, imdsUrl: imds.url });
    expect(r.problems.map((p) => [p.key, p.message])).toEqual([
      ['admin_password', expect.stringContaining('an admin password in EC2 user data is refused')],
    ]);
    expect(JSON.parse(read(root, PATHS.initialAdmin))).toEqual({
      password: 'i-0fedcba9876543210',
      source: 'instance-id',
      mustChange: true,
    });
    expect(r.password).toBe('instance-id');
    expect(JSON.stringify(r)).not.toContain('Sturdy-Password-2026');
    expect(read(root, PATHS.authorizedKeys)).toBe(`${pub}\n`);
    expect(read(root, PATHS.sshdConfig)).toContain('PasswordAuthentication no');
    expect(existsSync(join(root, 'etc/ssh/ssh_host_ed25519_key'))).toBe(true);
    expect(readlinkSync(join(root, PATHS.sshWants))).toBe('/lib/systemd/system/ssh.service');
    expect(existsSync(join(root, 'var/lib/drydock/firstboot/aws.json'))).toBe(false);
  });

  it('refuses a proxy that would inject a variable; a good one is written normalised, owner-only', async () => {
    const evil = await startImds({
      userData: YAML.stringify({
        drydock: { http_proxy: 'http://proxy.internal:3128/\nNODE_OPTIONS=--require /tmp/evil.js' },
      }),
      instanceId: 'i-0aaaaaaaaaaaaaaa1',
      region: 'eu-west-1',
    });
    cleanups.push(evil.close);
    const root = box();
    const r = await runFirstboot({ root, exec: recordingExec().exec, fetch, imdsUrl: evil.url });
    expect(r.problems).toEqual([
      {
        key: 'http_proxy',
        code: 'FIRSTBOOT_SETTING_INVALID',
        message: 'HTTP proxy contains a control character (a line break, tab or similar); refused',
      },
    ]);
    expect(existsSync(join(root, PATHS.updaterEnv))).toBe(false);
    expect(existsSync(join(root, PATHS.k3sEnv))).toBe(false);
    expect(r.pending).toContain('http_proxy');

    const good = await startImds({
      userData: YAML.stringify({ drydock: { http_proxy: 'HTTP://ops:s3cr$t@Proxy.Internal:3128/' } }),
      instanceId: 'i-0aaaaaaaaaaaaaaa2',
      region: 'eu-west-1',
    });
    cleanups.push(good.close);
    const root2 = box();
    const r2 = await runFirstboot({ root: root2, exec: recordingExec().exec, fetch, imdsUrl: good.url });
    expect(r2.problems).toEqual([]);
    for (const f of [PATHS.updaterEnv, PATHS.k3sEnv]) {
      const text = read(root2, f);
      expect(text.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([
        'HTTP_PROXY=http://ops:s3cr%24t@proxy.internal:3128',
        'HTTPS_PROXY=http://ops:s3cr%24t@proxy.internal:3128',
        'NO_PROXY=127.0.0.0/8,localhost,10.42.0.0/16,10.43.0.0/16,.svc,.cluster.local',
      ]);
      expect(statSync(join(root2, f)).mode & 0o777).toBe(0o600);
    }
    expect(statSync(join(root2, PATHS.config)).mode & 0o777).toBe(0o600);
    expect(YAML.parse(read(root2, PATHS.config)).httpProxy).toBe('http://ops:s3cr%24t@proxy.internal:3128');
    // first boot's own folders are owner-only
    expect(statSync(join(root2, 'var/lib/drydock/secrets')).mode & 0o777).toBe(0o700);
    expect(statSync(join(root2, PATHS.firstbootDir)).mode & 0o777).toBe(0o700);
  });

  it('keeps asking for a token while the network comes up (IMDS answers late)', async () => {
    // find a free port, then let IMDS start listening on it only after a while
    const probe = await startImds({ userData: null, instanceId: 'i-late', region: 'eu-west-1' });
    const port = new URL(probe.url).port;
    await probe.close();
    let late: Awaited<ReturnType<typeof startImds>> | undefined;
    const timer = setTimeout(async () => {
      late = await startImds({
        userData: 'drydock: { hostname: late-box }',
        instanceId: 'i-late',
        region: 'eu-west-1',
        port: Number(port),
      });
    }, 1500);
    cleanups.push(async () => {
      clearTimeout(timer);
      await late?.close();
    });
    const md = await readImds({ fetch, baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 500, waitMs: 10_000 });
    expect(md?.instanceId).toBe('i-late');
    expect(md?.userData).toContain('late-box');
    // without the wait, the same silence means "not EC2"
    expect(await readImds({ fetch, baseUrl: 'http://127.0.0.1:9', timeoutMs: 300 })).toBeNull();
  });

  it('is not EC2 when nothing answers; falls through to the local file', async () => {
    const root = box();
    mkdirSync(join(root, 'etc/drydock'), { recursive: true });
    writeFileSync(join(root, 'etc/drydock/firstboot.yaml'), 'hostname: from-file\nntp: pool.ntp.org\n');
    const { exec } = recordingExec();
    // a port nobody listens on: the token PUT fails fast
    const r = await runFirstboot({ root, exec, fetch, imdsUrl: 'http://127.0.0.1:9', imdsTimeoutMs: 500 });
    expect(r.source).toBe('file');
    expect(read(root, 'etc/hostname')).toBe('from-file\n');
    expect(r.password).toBe('none');
  });

  it('refuses a bad cloudformation block but applies the rest', async () => {
    const imds = await startImds({
      userData: 'drydock:\n  hostname: ok-name\n  cloudformation: { stack: s, resource: "bad name!" }\n',
      instanceId: 'i-0aaaaaaaaaaaaaaaa',
      region: 'eu-west-1',
    });
    cleanups.push(imds.close);
    const root = box();
    const r = await runFirstboot({ root, exec: recordingExec().exec, fetch, imdsUrl: imds.url });
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]!.message).toContain('drydock.cloudformation/resource');
    expect(read(root, 'etc/hostname')).toBe('ok-name\n');
    expect(existsSync(join(root, 'var/lib/drydock/firstboot/aws.json'))).toBe(false);
  });
});

describe('growing the data filesystem', () => {
  it('resizes a whole-disk filesystem (no partition table) without growpart', async () => {
    const root = box();
    mkdirSync(join(root, 'dev/disk/by-label'), { recursive: true });
    mkdirSync(join(root, 'sys/block/nvme1n1'), { recursive: true });
    mkdirSync(join(root, 'sys/class/block'), { recursive: true });
    symlinkSync('../../block/nvme1n1', join(root, 'sys/class/block/nvme1n1'));
    writeFileSync(join(root, 'dev/nvme1n1'), '');
    symlinkSync('../../nvme1n1', join(root, 'dev/disk/by-label/drydock-data'));
    const { exec, calls } = recordingExec();
    const r = await runFirstboot({ root, exec, source: 'file', fetch: () => Promise.reject(new Error('x')) });
    expect(calls.filter((c) => c[0] === 'growpart')).toEqual([]);
    expect(calls).toContainEqual(['resize2fs', '/dev/nvme1n1']);
    expect(r.notes).toContain('data filesystem /dev/nvme1n1 grown to its disk');
  });

  it('treats growpart NOCHANGE as fine and reports a real failure without stopping first boot', async () => {
    const root = box();
    mkdirSync(join(root, 'dev/disk/by-label'), { recursive: true });
    dataDisk(root);
    const nochange = recordingExec({
      growpart: () => ({ stdout: 'NOCHANGE: partition 1 is size 100', code: 1 }),
    });
    const r = await runFirstboot({
      root,
      exec: nochange.exec,
      source: 'file',
      fetch: () => Promise.reject(new Error('x')),
    });
    expect(r.notes).toContain('data filesystem /dev/vdb1 grown to its disk');

    const root2 = box();
    mkdirSync(join(root2, 'dev/disk/by-label'), { recursive: true });
    dataDisk(root2);
    const broken = recordingExec({ resize2fs: () => ({ stdout: '', code: 1 }) });
    const r2 = await runFirstboot({
      root: root2,
      exec: broken.exec,
      source: 'file',
      fetch: () => Promise.reject(new Error('x')),
    });
    expect(r2.notes.some((n) => n.startsWith('resize2fs /dev/vdb1 failed'))).toBe(true);
    expect(existsSync(join(root2, 'var/lib/drydock/firstboot/done.json'))).toBe(true);
  });
});
