// AWS's own CloudFormation linter (cfn-lint, from PyPI, pinned in cfn-lint-requirements.txt) on the
// rendered template, JSON and YAML, default and with every option, informational rules included:
// nothing may be reported but the findings listed in ACCEPTED with the reason they stand.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTemplate, renderTemplate } from '../../cloudformation/index.ts';

const REQUIREMENTS = join(import.meta.dirname, 'cfn-lint-requirements.txt');
const PINNED = /^cfn-lint==(\S+)$/m.exec(readFileSync(REQUIREMENTS, 'utf8'))![1]!;
const CFN_LINT =
  process.env.DRYDOCK_CFN_LINT ??
  join(process.env.DRYDOCK_CACHE ?? join(homedir(), '.cache/drydock'), 'venv-cfn-lint/bin/cfn-lint');
// regions of different ages and partitions' commercial edge: resource and instance-type support
// differs between them, and cfn-lint checks against each one given
const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2', 'sa-east-1'];

/** Findings we keep, each with why (rule id → reason). None today. */
const ACCEPTED: Record<string, string> = {};

interface Finding {
  Rule: { Id: string };
  Level: string;
  Message: string;
  Filename: string;
}

let dir: string;
beforeAll(() => {
  const v = spawnSync(CFN_LINT, ['--version'], { encoding: 'utf8' });
  expect(
    v.status,
    `cfn-lint is missing at ${CFN_LINT}: run scripts/setup-debian.sh (pip install -r test/cloudformation/cfn-lint-requirements.txt into that venv), or set DRYDOCK_CFN_LINT`,
  ).toBe(0);
  expect(v.stdout.trim()).toBe(`cfn-lint ${PINNED}`);
  dir = mkdtempSync(join(tmpdir(), 'drydock-cfn-lint-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function lint(files: string[]): Finding[] {
  const r = spawnSync(
    CFN_LINT,
    ['--format', 'json', '--include-checks', 'I', '--regions', ...REGIONS, '--', ...files],
    { encoding: 'utf8', timeout: 120_000 },
  );
  // exit codes are a bit mask of error(2)/warning(4)/informational(8); JSON lists them all
  expect(r.stdout, r.stderr).toMatch(/^\s*\[/);
  return JSON.parse(r.stdout) as Finding[];
}

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('cfn-lint on the rendered template', () => {
  test('JSON and YAML, default and with every option: nothing reported', () => {
    const variants = {
      default: buildTemplate(),
      options: buildTemplate({ ssmParameter: '/acme/ami', applianceName: 'Acme', signalTimeoutMinutes: 45 }),
      // the customer-account template, AMIs per region from publish-ami
      customer: buildTemplate({
        applianceName: 'Acme',
        amis: { 'eu-west-1': 'ami-0123456789abcdef0', 'us-east-1': 'ami-0fedcba9876543210' },
      }),
    };
    const files = Object.entries(variants).flatMap(([name, t]) => [
      write(`${name}.json`, renderTemplate(t, 'json')),
      write(`${name}.yaml`, renderTemplate(t, 'yaml')),
    ]);
    const findings = lint(files).filter((f) => !(f.Rule.Id in ACCEPTED));
    expect(findings.map((f) => `${f.Level} ${f.Rule.Id} ${f.Filename}: ${f.Message}`)).toEqual([]);
  });

  test('it does find faults in a broken copy (the check can fail)', () => {
    // biome-ignore lint/suspicious/noExplicitAny: templates are free-form JSON
    const t = structuredClone(buildTemplate()) as any;
    t.Resources.Instance.Properties.SubnetId = { Ref: 'NoSuchParameter' };
    t.Resources.SecurityGroup.Properties.SecurityGroupIngress[0].FromPort = 'https';
    t.Parameters.Unused = { Type: 'String', Default: '' };
    const ids = new Set(lint([write('broken.json', renderTemplate(t, 'json'))]).map((f) => f.Rule.Id));
    expect(ids.has('E1020')).toBe(true); // Ref to nothing
    expect([...ids].some((id) => id.startsWith('E30'))).toBe(true); // a property of the wrong type
    expect(ids.has('W2001')).toBe(true); // a parameter nobody uses
  });
});
