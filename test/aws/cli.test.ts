// `drydock aws publish-ami` and `drydock aws template` through the command line parser, with the
// AWS stand-in injected: flags reach the flow, results and errors come out as the CLI prints them.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { registerAws } from '../../cli/aws.ts';
import { buildTemplate } from '../../cloudformation/index.ts';
import { BLOCK, makeDisk } from './disk.ts';
import { FakeAws } from './fake-aws.ts';

let dir: string;
let fake: FakeAws;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drydock-aws-cli-'));
  fake = new FakeAws();
});
afterEach(async () => {
  vi.restoreAllMocks();
  process.exitCode = 0;
  await rm(dir, { recursive: true, force: true });
});

async function run(args: string[]) {
  const program = new Command('drydock').exitOverride();
  registerAws(program, {
    clients: fake.clients,
    env: {},
    pace: { eventPollMs: 1, waitDelays: { min: 0.001, max: 0.002 } },
  });
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((c) => {
    stdout += String(c);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((c) => {
    stderr += String(c);
    return true;
  });
  process.exitCode = 0;
  try {
    await program.parseAsync(['node', 'drydock', 'aws', ...args]);
  } finally {
    vi.restoreAllMocks();
  }
  return { code: process.exitCode, stdout, stderr };
}

describe('drydock aws publish-ami', () => {
  test('publishes to two regions, shares, writes the JSON and the SSM parameter', async () => {
    const disk = join(dir, 'golden.raw');
    await makeDisk(disk, 12 * BLOCK, [0, 4, 11]);
    const out = join(dir, 'amis.json');
    const r = await run([
      'publish-ami',
      '--disk',
      disk,
      '--name',
      'acme-1.0.0',
      '--regions',
      'eu-west-1,us-east-2',
      '--share-with',
      '111122223333',
      '444455556666',
      '--out',
      out,
      '--ssm-parameter',
      '/acme/ami',
      '--concurrency',
      '2',
    ]);
    expect(r.stderr).not.toContain('drydock:');
    expect(r.code).toBe(0);
    const json = JSON.parse(await readFile(out, 'utf8'));
    expect(Object.keys(json.amis)).toEqual(['eu-west-1', 'us-east-2']);
    expect(r.stdout).toContain(`published acme-1.0.0: eu-west-1=${json.amis['eu-west-1']}`);
    expect(fake.region('us-east-2').params.get('/acme/ami')?.value).toBe(json.amis['us-east-2']);
    expect([...fake.region('us-east-2').images.get(json.amis['us-east-2'])!.launchPermission]).toEqual([
      '111122223333',
      '444455556666',
    ]);
  });

  test('bad flags are refused with exit 2 and nothing is sent', async () => {
    const disk = join(dir, 'golden.raw');
    await makeDisk(disk, 4 * BLOCK, [1]);
    const r = await run([
      'publish-ami',
      '--disk',
      disk,
      '--name',
      'acme',
      '--regions',
      'eu-west-1',
      '--share-with',
      'me',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'drydock: USAGE: accounts to share with must be distinct 12-digit AWS account ids',
    );
    const m = await run([
      'publish-ami',
      '--disk',
      join(dir, 'missing.raw'),
      '--name',
      'acme',
      '--regions',
      'eu-west-1',
    ]);
    expect(m.code).toBe(1);
    expect(m.stderr).toContain('BUILD_INPUT_MISSING');
    expect(fake.calls).toEqual([]);
  });
});

describe('drydock aws template', () => {
  test('writes JSON and YAML that parse back to the template', async () => {
    const json = join(dir, 't.json');
    const r = await run(['template', '--format', 'json', '--out', json]);
    expect(r.code).toBe(0);
    expect(JSON.parse(await readFile(json, 'utf8'))).toEqual(buildTemplate());
    const yaml = join(dir, 't.yaml');
    await run([
      'template',
      '--format',
      'yaml',
      '--out',
      yaml,
      '--ssm-parameter',
      '/acme/ami',
      '--signal-timeout',
      '45',
    ]);
    const t = parseYaml(await readFile(yaml, 'utf8'));
    expect(t.Parameters.AmiId.Default).toBe('/acme/ami');
    expect(t.Resources.Instance.CreationPolicy.ResourceSignal.Timeout).toBe('PT45M');
  });

  test("--amis turns publish-ami's output into the per-region mapping; bad files are refused", async () => {
    const amis = join(dir, 'amis.json');
    await writeFile(
      amis,
      JSON.stringify({
        name: 'drydock-demo 1.0.0',
        bootMode: 'uefi-preferred',
        snapshotId: 'snap-0123456789abcdef0',
        amis: { 'eu-west-1': 'ami-0123456789abcdef0', 'us-east-1': 'ami-0fedcba9876543210' },
        sharedWith: ['111122223333'],
      }),
    );
    const out = join(dir, 'customer.json');
    expect((await run(['template', '--format', 'json', '--out', out, '--amis', amis])).code).toBe(0);
    const t = JSON.parse(await readFile(out, 'utf8'));
    expect(t).toEqual(
      buildTemplate({ amis: { 'eu-west-1': 'ami-0123456789abcdef0', 'us-east-1': 'ami-0fedcba9876543210' } }),
    );
    expect(t.Mappings.RegionImage['us-east-1'].Ami).toBe('ami-0fedcba9876543210');
    await writeFile(amis, JSON.stringify({ amis: { 'eu-west-1': 'not-an-ami' } }));
    const bad = await run(['template', '--format', 'json', '--out', join(dir, 'bad.json'), '--amis', amis]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('is not a region and an AMI id');
  });

  test('an unknown format is refused and no file is written', async () => {
    const out = join(dir, 't.xml');
    const r = await run(['template', '--format', 'xml', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--format must be json or yaml');
    await expect(stat(out)).rejects.toThrow();
  });

  test('quick-create-url needs a template URL and a region', async () => {
    const none = await run(['quick-create-url', '--region', 'eu-west-1']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no template URL');
    const noRegion = await run(['quick-create-url', '--template-url', 'https://b.s3.amazonaws.com/t.yaml']);
    expect(noRegion.code).toBe(2);
    expect(noRegion.stderr).toContain('no region');
    const ok = await run([
      'quick-create-url',
      '--template-url',
      'https://b.s3.amazonaws.com/t.yaml',
      '--region',
      'eu-west-1',
      '--param',
      'InstanceType=m6i.large',
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      /^https:\/\/eu-west-1\.console\.aws\.amazon\.com\/cloudformation\/home\?region=eu-west-1#\/stacks\/quickcreate\?templateURL=/,
    );
    expect(ok.stdout).toContain('param_InstanceType=m6i.large');
  });
});
