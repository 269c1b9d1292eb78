import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import YAML from 'yaml';
import { makeRoot } from './helpers.ts';

const BIN = join(import.meta.dirname, '../../bin/drydock.js');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
function tmp() {
  const r = makeRoot();
  cleanups.push(r.cleanup);
  return r.root;
}
/** The real binary, in a child process (used once: it is slow to start on a loaded machine). */
function drydockProcess(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr || String(r.error ?? '') };
}

/** The same command tree in this process (cli/main.ts), stdout and stderr captured. */
async function drydock(...args: string[]) {
  const { main } = await import('../../cli/main.ts');
  let stdout = '';
  let stderr = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c) => {
    stdout += String(c);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c) => {
    stderr += String(c);
    return true;
  });
  try {
    process.exitCode = undefined;
    const code = await main(['node', 'drydock', ...args]);
    return { code, stdout, stderr };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.exitCode = undefined;
  }
}

describe('drydock backend render / firstboot (the real CLI)', () => {
  it('renders the manifests and the chart', () => {
    const out = tmp();
    const r = drydockProcess(
      'backend',
      'render',
      '--out',
      join(out, 'box'),
      '--chart',
      join(out, 'chart'),
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(res).toMatchObject({ ok: true, name: 'observability-portal', placeholders: ['grafana-plugins'] });
    expect(YAML.parseAllDocuments(readFileSync(join(out, 'box/backend.yaml'), 'utf8')).length).toBe(
      res.objects,
    );
    expect(existsSync(join(out, 'chart/Chart.yaml'))).toBe(true);
  });

  it('refuses a missing source and a bad --source for first boot, with stable codes', async () => {
    const r = await drydock('backend', 'render', '--out', tmp(), '--source', '/nonexistent/backend');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('SPEC_FILE_MISSING');
    const f = await drydock('firstboot', 'run', '--root', tmp(), '--source', 'floppy');
    expect(f.code).toBe(2);
    expect(f.stderr).toContain('USAGE');
  });

  it('runs first boot from a settings file, then the banner; a refused setting does not fail the boot', async () => {
    const root = tmp();
    mkdirSync(join(root, 'etc/drydock'), { recursive: true });
    writeFileSync(
      join(root, 'etc/drydock/firstboot.yaml'),
      'drydock:\n  hostname: cli-box\n  ip: 10.1.2.3\n  admin_password: Cli-Pass-Word-77\n',
    );
    const r = await drydock('firstboot', 'run', '--root', root, '--source', 'file', '--json');
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim());
    expect(res.status).toBe('applied-with-problems');
    expect(res.problems[0].key).toBe('ip');
    expect(r.stdout).not.toContain('Cli-Pass-Word-77');
    expect(
      JSON.parse(readFileSync(join(root, 'var/lib/drydock/secrets/initial-admin.json'), 'utf8')).source,
    ).toBe('file');
    const b = await drydock('firstboot', 'banner', '--root', root);
    expect(b.code).toBe(0);
    expect(b.stdout).toContain('https://\\4/   (or https://cli-box/)');
    const s = await drydock('firstboot', 'settings', '--json');
    expect(JSON.parse(s.stdout).settings.map((x: { key: string }) => x.key)).toContain('admin_password');
  });
});
