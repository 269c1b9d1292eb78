// 40-box-init.sh for real: the demo release (examples/demo) installed by the provisioner through the real
// `drydock box init`, on a folder root with the stand-in cluster (no k3s here). Slow-ish: the CLI
// starts in a child process and the demo bundles are built once (cached) by examples/demo.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { buildDemo } from '../../../examples/demo/index.ts';
import { makeRoot } from '../../appliance/helpers.ts';

const { root, cleanup } = makeRoot();
const tools = makeRoot();
afterAll(() => {
  cleanup();
  tools.cleanup();
});

describe('40-box-init.sh', () => {
  it('installs the first release with drydock box init and says so', async () => {
    const demo = await buildDemo();
    const bin = join(tools.root, 'drydock');
    writeFileSync(
      bin,
      `#!/bin/sh\nexec ${process.execPath} ${join(import.meta.dirname, '../../../bin/drydock.js')} "$@"\n`,
    );
    chmodSync(bin, 0o755);
    const r = spawnSync('sh', [join(import.meta.dirname, '../../../appliance/provision/40-box-init.sh')], {
      env: {
        PATH: process.env.PATH!,
        DRYDOCK_ROOT: root,
        DRYDOCK_BIN: bin,
        DRYDOCK_CLUSTER: 'standin',
        DRYDOCK_BUNDLE: demo.bundles['1.0.0'],
        DRYDOCK_TRUST: demo.rootPath,
      },
      encoding: 'utf8',
      timeout: 240_000,
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('drydock provision [box init]: first release installed');
    const cfg = YAML.parse(readFileSync(join(root, 'etc/drydock/config.yaml'), 'utf8'));
    expect(cfg.cluster).toBe('standin');
    expect(existsSync(join(root, 'var/lib/drydock/state.db'))).toBe(true);
  }, 300_000);
});
