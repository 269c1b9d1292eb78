// Opt-in: the rendered backend against a REAL k3s API server (DRYDOCK_E2E_K3S=1 on a machine where
// k3s runs; `k3s kubectl` or `kubectl` on PATH with access). Server-side dry run of every object —
// the API server's own validation and admission, the Traefik HelmChartConfig CRD included — and the
// chart rendered with its default values. Only the namespace is created (and removed) if missing. Nothing here runs without the flag.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadBackendRenderer } from '../../../appliance/index.ts';
import { helmTemplate } from '../../appliance/helm-mini.ts';

const enabled = process.env.DRYDOCK_E2E_K3S === '1';
const work = mkdtempSync(join(tmpdir(), 'drydock-e2e-appliance-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function kubectl(args: string[], input?: string): string {
  const [cmd, pre] = process.env.DRYDOCK_E2E_KUBECTL
    ? [process.env.DRYDOCK_E2E_KUBECTL, []]
    : ['k3s', ['kubectl']];
  return execFileSync(cmd, [...pre, ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

describe.skipIf(!enabled)('the backend on a real k3s API server (DRYDOCK_E2E_K3S=1)', () => {
  // a dry run cannot place objects in a namespace that does not exist: make it, remove it after
  let created = false;
  beforeAll(() => {
    try {
      kubectl(['get', 'namespace', 'portal']);
    } catch {
      kubectl(['create', 'namespace', 'portal']);
      created = true;
    }
  });
  afterAll(() => {
    if (created) kubectl(['delete', 'namespace', 'portal', '--wait=false']);
  });

  it('accepts every box object and Traefik config in a server-side dry run', async () => {
    const R = await loadBackendRenderer();
    const { files } = await R.renderBoxFiles(await R.loadSource());
    for (const f of ['backend.yaml', 'traefik-config.yaml']) {
      writeFileSync(join(work, f), files[f]!);
      const out = kubectl(['apply', '--dry-run=server', '-f', join(work, f)]);
      expect(out).toMatch(/(created|configured|unchanged) \(server dry run\)/);
    }
  });

  it('accepts the chart rendered with default values', async () => {
    const R = await loadBackendRenderer();
    const objs = helmTemplate(await R.renderChartFiles(await R.loadSource()));
    const out = kubectl(
      ['apply', '--dry-run=server', '-f', '-'],
      objs.map((o) => YAML.stringify(o)).join('---\n'),
    );
    expect(out).toContain('horizontalpodautoscaler');
  });
});
