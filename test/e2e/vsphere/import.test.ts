// vSphere import, without vSphere: govmomi's vCenter simulator (vcsim) and govc, built from the Go
// module proxy by scripts/build-govmomi.sh (setup-debian.sh runs it). A small OVA made here with
// `drydock ova pack` (the packOva that `drydock build ova` calls; the full image build has its own
// test in test/e2e/images) is imported with `govc import.ova`, its options taken from
// `govc import.spec`: the vApp properties are offered and user-configurable, both disks upload
// whole, the VM has the hardware the OVF declares and powers on with the values given.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SETTING_KEYS } from '../../../appliance/index.ts';
import { readOvaEntries } from '../../../images/index.ts';

const ROOT_BYTES = 24 * 1024 * 1024;
const DATA_BYTES = 12 * 1024 * 1024;

let dir: string;
let bin: string;
let ova: string;
let vcsim: ChildProcess | undefined;
const vcsimLog: string[] = [];
let env: NodeJS.ProcessEnv;

function govmomiDir(): string {
  const d = execFileSync('bash', ['scripts/build-govmomi.sh', '--print'], { encoding: 'utf8' }).trim();
  for (const tool of ['govc', 'vcsim'])
    if (!existsSync(join(d, tool)))
      throw new Error(
        `${tool} is not built at ${d}: run scripts/build-govmomi.sh (scripts/setup-debian.sh runs it; needs Go and the Go module proxy)`,
      );
  return d;
}

function govc(args: string[]): string {
  return execFileSync(join(bin, 'govc'), args, { encoding: 'utf8', env, stdio: 'pipe' });
}

function govcJson<T>(args: string[]): T {
  return JSON.parse(govc(args)) as T;
}

/** Starts vcsim on 127.0.0.1, port 0, and resolves with the URL it prints once it listens. */
function startVcsim(): Promise<string> {
  return new Promise((resolveUrl, reject) => {
    const p = spawn(join(bin, 'vcsim'), ['-l', '127.0.0.1:0', '-log-nfc'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    vcsim = p;
    createInterface({ input: p.stderr! }).on('line', (l) => vcsimLog.push(l));
    createInterface({ input: p.stdout! }).on('line', (l) => {
      const m = /^GOVC_URL=(https:\/\/\S+)$/.exec(l);
      if (m) resolveUrl(m[1]!);
    });
    p.once('error', reject);
    p.once('exit', (code) =>
      reject(new Error(`vcsim exited (${code}) before listening: ${vcsimLog.join('\n')}`)),
    );
  });
}

beforeAll(async () => {
  bin = govmomiDir();
  dir = mkdtempSync(join(tmpdir(), 'drydock-vsphere-'));
  const root = join(dir, 'root.raw');
  execFileSync('truncate', ['-s', String(ROOT_BYTES), root]);
  execFileSync('mke2fs', ['-q', '-t', 'ext4', '-L', 'root', '-d', resolve('images/ova'), root]);
  const data = join(dir, 'data.raw');
  execFileSync('truncate', ['-s', String(DATA_BYTES), data]);
  // a signing key and certificate (openssl), so the signed layout is what vcsim imports
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'sign.key',
      '-out',
      'sign.pem',
      '-days',
      '2',
      '-subj',
      '/CN=Drydock vSphere test',
    ],
    { cwd: dir, stdio: 'pipe' },
  );
  ova = join(dir, 'drydock-demo-1.0.0.ova');
  execFileSync(
    'node',
    [
      'bin/drydock.js',
      'ova',
      'pack',
      '--disk',
      root,
      data,
      '--out',
      ova,
      '--name',
      'drydock-demo',
      '--cpus',
      '2',
      '--memory-mb',
      '4096',
      '--sign-key',
      join(dir, 'sign.key'),
      '--sign-cert',
      join(dir, 'sign.pem'),
    ],
    { stdio: 'pipe' },
  );

  const url = await startVcsim();
  expect(new URL(url).hostname).toBe('127.0.0.1');
  env = { ...process.env, GOVC_URL: url, GOVC_INSECURE: '1' };
  for (const k of Object.keys(env))
    if (k.startsWith('GOVC_') && k !== 'GOVC_URL' && k !== 'GOVC_INSECURE') delete env[k];
}, 120_000);

afterAll(async () => {
  if (vcsim && vcsim.exitCode === null) {
    const exited = new Promise((r) => vcsim!.once('exit', r));
    vcsim.kill('SIGTERM');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Spec {
  PropertyMapping: { Key: string; Value: string }[];
  NetworkMapping: { Name: string; Network: string }[];
  PowerOn: boolean;
  Name: string | null;
  DiskProvisioning: string;
  [k: string]: unknown;
}

describe('vSphere import (vcsim + govc)', () => {
  it('govc import.spec offers every first-boot setting; import.ova uploads both disks; the VM powers on with the values given', async () => {
    expect(govc(['about'])).toMatch(/Name:\s+VMware vCenter Server/);
    // the OVA that goes in is signed and checks out (its self-signed certificate as the CA)
    expect(
      execFileSync('node', ['bin/drydock.js', 'ova', 'verify', ova, '--ca', join(dir, 'sign.pem')], {
        encoding: 'utf8',
      }),
    ).toMatch(/3 digests match \(sha256\), signed by CN=Drydock vSphere test, chains to the CA/);

    const spec = govcJson<Spec>(['import.spec', ova]);
    // only user-configurable properties are offered: all of them, by the appliance's keys
    expect(spec.PropertyMapping.map((p) => p.Key)).toEqual([...SETTING_KEYS]);
    expect(spec.NetworkMapping).toEqual([{ Name: 'VM Network', Network: '' }]);

    const values: Record<string, string> = {
      hostname: 'vc-box-1',
      admin_password: 'Correct-Horse-9-Battery',
      ntp: 'ntp.example.org',
      dns: '192.0.2.53',
    };
    for (const p of spec.PropertyMapping) if (p.Key in values) p.Value = values[p.Key]!;
    spec.NetworkMapping[0]!.Network = 'VM Network';
    spec.PowerOn = true;
    spec.Name = 'vc-box-1';
    spec.DiskProvisioning = 'thin';
    const options = join(dir, 'options.json');
    writeFileSync(options, JSON.stringify(spec));

    const importOut = govc(['import.ova', '-options', options, ova]);
    expect(importOut).toContain('Powering on VM');

    // the disks arrived whole: vcsim logs the bytes of each upload; they are the OVA's VMDKs
    const fh = await open(ova, 'r');
    const entries = await readOvaEntries(fh, (await fh.stat()).size);
    await fh.close();
    const vmdks = entries.filter((e) => e.name.endsWith('.vmdk'));
    expect(vmdks.map((e) => e.name)).toEqual(['drydock-demo-disk1.vmdk', 'drydock-demo-disk2.vmdk']);
    const uploads = () =>
      vcsimLog
        .flatMap((l) => {
          const m = /nfc (?:PUT|POST) \S+\.vmdk: transferred (\d+) bytes/.exec(l);
          return m ? [Number(m[1])] : [];
        })
        .sort((x, y) => x - y);
    // vcsim's stderr is read by this process's event loop, which the synchronous govc call held
    await expect.poll(uploads, { timeout: 10_000 }).toEqual(vmdks.map((e) => e.size).sort((x, y) => x - y));

    // powered on, with the guest and hardware the OVF declares
    const [state, guestId, version, cpus, memory] = govc([
      'object.collect',
      '-s',
      'vm/vc-box-1',
      'runtime.powerState',
      'config.guestId',
      'config.version',
      'config.hardware.numCPU',
      'config.hardware.memoryMB',
    ])
      .trim()
      .split('\n');
    expect({ state, guestId, version, cpus, memory }).toEqual({
      state: 'poweredOn',
      guestId: 'debian13_64Guest',
      version: 'vmx-14',
      cpus: '2',
      memory: '4096',
    });

    const devices = govcJson<{
      devices?: { name: string; type: string; capacityInBytes?: number }[];
      Devices?: unknown[];
    }>(['device.info', '-json', '-vm', 'vc-box-1']);
    const list = (devices.devices ?? devices.Devices ?? []) as {
      name: string;
      type: string;
      capacityInBytes?: number;
    }[];
    const types = list.map((d) => d.type);
    expect(types).toContain('ParaVirtualSCSIController');
    expect(types).toContain('VirtualCdrom');
    expect(types).toContain('VirtualVmxnet3');
    const disks = list.filter((d) => d.type === 'VirtualDisk');
    expect(disks.map((d) => d.capacityInBytes)).toEqual([ROOT_BYTES, DATA_BYTES]);

    // the vApp properties carry the values given, and stay user-configurable
    const vapp = govcJson<
      {
        name: string;
        val: { property: { id: string; value?: string; userConfigurable: boolean; type: string }[] };
      }[]
    >(['object.collect', '-json', 'vm/vc-box-1', 'config.vAppConfig']);
    const props = vapp[0]!.val.property;
    expect(props.map((p) => p.id)).toEqual([...SETTING_KEYS]);
    for (const p of props) {
      expect(p.userConfigurable, p.id).toBe(true);
      expect(p.value ?? '', p.id).toBe(values[p.id] ?? '');
    }
    // govc vm.info -e shows them as the VM's configuration too
    const info = govc(['vm.info', '-e', 'vc-box-1']);
    expect(info).toMatch(/Power state:\s+poweredOn/);
    expect(info).toMatch(/hostname:\s+vc-box-1/);
    expect(info).toMatch(/ntp:\s+ntp\.example\.org/);
  });

  it('an options file naming a network the inventory lacks is refused by the import, and no VM appears', () => {
    const spec = govcJson<Spec>(['import.spec', ova]);
    spec.NetworkMapping[0]!.Network = 'No Such Network';
    spec.Name = 'vc-box-2';
    const options = join(dir, 'options-bad.json');
    writeFileSync(options, JSON.stringify(spec));
    let failed = false;
    try {
      govc(['import.ova', '-options', options, ova]);
    } catch (err) {
      failed = true;
      expect(String((err as { stderr?: string }).stderr)).toMatch(/No Such Network/);
    }
    expect(failed).toBe(true);
    expect(govc(['find', '/', '-type', 'm', '-name', 'vc-box-2']).trim()).toBe('');
    expect(readFileSync(ova).length).toBeGreaterThan(0);
  });
});
