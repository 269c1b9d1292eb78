// The Packer templates with Debian's real packer 1.6.6 (builders built in): syntax, full validation
// of both sources with a var file, and why required_plugins lives in its own folder.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needsPlugins, pkrvars } from '../../images/index.ts';

const TEMPLATES = resolve('images/packer');
let dir: string;

function packer(args: string[], cwd: string) {
  return spawnSync('packer', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, CHECKPOINT_DISABLE: '1' },
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'drydock-packer-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('images/packer', () => {
  it('passes packer validate -syntax-only with the installed Packer', () => {
    const r = packer(['validate', '-syntax-only', '.'], TEMPLATES);
    expect(r.stderr + r.stdout).toContain('Syntax-only check passed');
    expect(r.status).toBe(0);
  });

  it('validates fully, qemu and amazon-ebs sources alike, with the variables drydock build passes', () => {
    const vars = join(dir, 'build.pkrvars.hcl');
    writeFileSync(
      vars,
      pkrvars({
        name: 'drydock-demo',
        version: '1.0.0',
        payload_dir: dir,
        provision_scripts: readdirSync('appliance/provision')
          .filter((f) => f.endsWith('.sh'))
          .map((f) => resolve('appliance/provision', f)),
        base_disk: join(dir, 'base.qcow2'),
        data_disk: join(dir, 'data.qcow2'),
        ssh_private_key_file: join(dir, 'key'),
        output_dir: join(dir, 'out'),
        accelerator: 'tcg',
        disk_size: '8256M',
      }),
    );
    const r = packer(['validate', `-var-file=${vars}`, '.'], TEMPLATES);
    expect(r.stderr + r.stdout).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    // a wrong value is caught by the same validation (so the check above can fail)
    writeFileSync(vars, `${readFileSync(vars, 'utf8')}ssh_private_key_file = "${join(dir, 'missing')}"\n`);
    const bad = packer(['validate', `-var-file=${vars}`, '.'], TEMPLATES);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr + bad.stdout).toContain('ssh_private_key_file');
  });

  it('keeps required_plugins where Packer 1.6.6 does not load it (beside the templates it is refused)', () => {
    const plugins = readFileSync(join(TEMPLATES, 'plugins', 'versions.pkr.hcl'), 'utf8');
    expect(plugins).toMatch(/required_plugins\s*\{/);
    expect(plugins).toContain('github.com/hashicorp/qemu');
    expect(plugins).toContain('github.com/hashicorp/amazon');
    for (const f of readdirSync(TEMPLATES).filter((n) => n.endsWith('.hcl') || n.endsWith('.json')))
      expect(readFileSync(join(TEMPLATES, f), 'utf8')).not.toContain('required_plugins {');
    const mixed = join(dir, 'mixed');
    cpSync(TEMPLATES, mixed, { recursive: true });
    cpSync(join(mixed, 'plugins', 'versions.pkr.hcl'), join(mixed, 'versions.pkr.hcl'));
    const r = packer(['validate', '-syntax-only', '.'], mixed);
    const version = execFileSync('packer', ['version'], { encoding: 'utf8' });
    if (!needsPlugins(/(\d+\.\d+\.\d+)/.exec(version)![1]!)) {
      expect(r.status).not.toBe(0);
      expect(r.stderr + r.stdout).toContain('required_plugins');
    } else {
      expect(r.status).toBe(0);
    }
  });

  it('formats variables as HCL without letting ${ interpolate', () => {
    const tricky = `x$${'{'}y}"z`; // x${y}"z
    expect(pkrvars({ a: tricky, n: 2, l: ['p', 'q'] })).toBe(
      `a = "x$$${'{'}y}\\"z"\nn = 2\nl = ["p", "q"]\n`,
    );
    expect(needsPlugins('1.6.6')).toBe(false);
    expect(needsPlugins('1.7.0')).toBe(true);
    expect(needsPlugins('1.11.2')).toBe(true);
  });

  it('seal and provisioning scripts are valid sh', () => {
    for (const f of ['seal.sh', 'no-provisioners.sh']) {
      const r = spawnSync('sh', ['-n', join(TEMPLATES, f)], { encoding: 'utf8' });
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
    }
    const seal = readFileSync(join(TEMPLATES, 'seal.sh'), 'utf8');
    for (const must of ['/etc/machine-id', 'ssh_host_', 'userdel', '/var/log', 'sudoers.d'])
      expect(seal).toContain(must);
  });
});
