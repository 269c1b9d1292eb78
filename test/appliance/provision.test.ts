import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { UNIT_FILES, UNITS_DIR } from '../../appliance/index.ts';
import { makeRoot } from './helpers.ts';

const PROVISION = join(import.meta.dirname, '../../appliance/provision');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
function tmp() {
  const r = makeRoot();
  cleanups.push(r.cleanup);
  return r.root;
}

function run(script: string, env: Record<string, string>) {
  const r = spawnSync('sh', [join(PROVISION, script)], {
    env: { PATH: process.env.PATH!, ...env },
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe('provisioners against a box root', () => {
  it('with an empty payload each script says what it left out and succeeds', () => {
    const root = tmp();
    const payload = tmp();
    for (const s of ['10-units.sh', '20-k3s.sh', '30-drydock.sh', '40-box-init.sh', '90-seal.sh']) {
      const r = run(s, { DRYDOCK_ROOT: root, DRYDOCK_PAYLOAD: payload });
      expect(r.code, `${s}: ${r.out}`).toBe(0);
      if (s !== '90-seal.sh') expect(r.out, s).toMatch(/LEFT OUT: /);
    }
    expect(run('20-k3s.sh', { DRYDOCK_ROOT: root, DRYDOCK_PAYLOAD: payload }).out).toContain(
      'LEFT OUT: k3s binary',
    );
  });

  it('installs and enables the units with systemctl --root, k3s and its airgap images, Drydock from the payload', () => {
    const root = tmp();
    const payload = tmp();
    // a payload as the image build stages it
    mkdirSync(join(payload, 'k3s'));
    writeFileSync(join(payload, 'k3s/k3s'), '#!/bin/sh\necho k3s\n');
    writeFileSync(join(payload, 'k3s/k3s-airgap-images-amd64.tar.zst'), 'images');
    const app = tmp();
    mkdirSync(join(app, 'bin'));
    writeFileSync(join(app, 'bin/drydock.js'), '// app');
    mkdirSync(join(app, 'appliance'));
    execFileSync('cp', ['-a', UNITS_DIR, join(app, 'appliance/units')]);
    execFileSync('tar', [
      '--zstd',
      '-cf',
      join(payload, 'drydock-app.tar.zst'),
      '-C',
      app,
      'bin',
      'appliance',
    ]);
    mkdirSync(join(payload, 'backend'));
    writeFileSync(join(payload, 'backend/generated-secrets.json'), '[]\n');

    const u = run('10-units.sh', { DRYDOCK_ROOT: root, DRYDOCK_PAYLOAD: payload });
    expect(u.code, u.out).toBe(0);
    for (const f of UNIT_FILES)
      expect(readFileSync(join(root, f.dest), 'utf8')).toBe(readFileSync(join(UNITS_DIR, f.file), 'utf8'));
    expect(statSync(join(root, 'etc/rancher/k3s/config.yaml')).mode & 0o777).toBe(0o600);
    // systemctl --root made the [Install] links
    expect(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/k3s.service'))).toBe(
      '/etc/systemd/system/k3s.service',
    );
    expect(
      lstatSync(
        join(root, 'etc/systemd/system/multi-user.target.wants/drydock-firstboot.service'),
      ).isSymbolicLink(),
    ).toBe(true);
    expect(
      lstatSync(
        join(root, 'etc/systemd/system/local-fs.target.wants/var-lib-rancher.mount'),
      ).isSymbolicLink(),
    ).toBe(true);
    expect(existsSync(join(root, 'var/lib/drydock-data/rancher'))).toBe(true);

    const k = run('20-k3s.sh', { DRYDOCK_ROOT: root, DRYDOCK_PAYLOAD: payload });
    expect(k.code, k.out).toBe(0);
    expect(statSync(join(root, 'usr/local/bin/k3s')).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(root, 'usr/local/bin/kubectl'))).toBe('k3s');
    expect(existsSync(join(root, 'var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst'))).toBe(
      true,
    );

    const d = run('30-drydock.sh', { DRYDOCK_ROOT: root, DRYDOCK_PAYLOAD: payload });
    expect(d.code, d.out).toBe(0);
    expect(readFileSync(join(root, 'opt/drydock/bin/drydock.js'), 'utf8')).toBe('// app');
    expect(readFileSync(join(root, 'usr/local/bin/drydock'), 'utf8')).toContain(
      '/opt/drydock/bin/drydock.js',
    );
    expect(existsSync(join(root, 'etc/drydock/generated-secrets.json'))).toBe(true);

    // seal: k3s secrets and identity go, manifests and images stay
    for (const p of [
      'var/lib/rancher/k3s/server/tls',
      'var/lib/rancher/k3s/server/manifests',
      'etc/ssh',
      'var/lib/drydock/firstboot',
    ])
      mkdirSync(join(root, p), { recursive: true });
    writeFileSync(join(root, 'var/lib/rancher/k3s/server/token'), 'secret');
    writeFileSync(join(root, 'var/lib/rancher/k3s/server/manifests/drydock-x.yaml'), 'x');
    writeFileSync(join(root, 'etc/ssh/ssh_host_ed25519_key'), 'k');
    writeFileSync(join(root, 'etc/machine-id'), 'abc\n');
    const s = run('90-seal.sh', { DRYDOCK_ROOT: root });
    expect(s.code, s.out).toBe(0);
    expect(existsSync(join(root, 'var/lib/rancher/k3s/server/token'))).toBe(false);
    expect(existsSync(join(root, 'var/lib/rancher/k3s/server/tls'))).toBe(false);
    expect(existsSync(join(root, 'var/lib/rancher/k3s/server/manifests/drydock-x.yaml'))).toBe(true);
    expect(existsSync(join(root, 'var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst'))).toBe(
      true,
    );
    expect(existsSync(join(root, 'etc/ssh/ssh_host_ed25519_key'))).toBe(false);
    expect(readFileSync(join(root, 'etc/machine-id'), 'utf8')).toBe('');
    expect(existsSync(join(root, 'var/lib/drydock/firstboot'))).toBe(false);
  });
});

describe('units', () => {
  it('are valid systemd units (systemd-analyze verify) with the agreed ordering', () => {
    const fb = readFileSync(join(UNITS_DIR, 'drydock-firstboot.service'), 'utf8');
    expect(fb).toMatch(/^Before=k3s\.service drydock-updater\.service/m);
    expect(fb).toMatch(/^Type=oneshot$/m);
    expect(readFileSync(join(UNITS_DIR, 'drydock-updater.service'), 'utf8')).toContain(
      'updater serve --root /',
    );
    const k3s = YAML.parse(readFileSync(join(UNITS_DIR, 'k3s-config.yaml'), 'utf8'));
    expect(k3s.disable).toEqual(['servicelb', 'metrics-server']);
    expect(k3s['data-dir']).toBe('/var/lib/rancher/k3s');
    expect(readFileSync(join(UNITS_DIR, 'var-lib-rancher.mount'), 'utf8')).toContain(
      'What=/var/lib/drydock-data/rancher',
    );
    const verify = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    expect(
      verify.status,
      'systemd-analyze is missing: run scripts/setup-debian.sh (Debian package systemd)',
    ).toBe(0);
    const root = tmp();
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
    const r = spawnSync(
      'systemd-analyze',
      ['verify', '--man=no', ...UNIT_FILES.filter((f) => f.enable).map((f) => join(UNITS_DIR, f.file))],
      { encoding: 'utf8' },
    );
    // only the k3s binary, absent on this machine, may be reported; anything else is a unit error
    const lines = r.stderr
      .split('\n')
      .filter((l) => l.trim() && !/\/usr\/local\/bin\/k3s is not executable/.test(l));
    expect(lines).toEqual([]);
  });
});
