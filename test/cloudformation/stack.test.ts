// launch / status / delete against the CloudFormation stand-in: events stream as they accumulate
// (each once, oldest first, across pages), a good launch returns the outputs, a rolled-back launch
// fails with STACK_ROLLED_BACK (exit 3) and the failing resource's reason, updates keep previous
// parameter values and treat "no updates" as success, and bad input never reaches the service.
import { afterEach, describe, expect, test, vi } from 'vitest';
import { buildTemplate, deleteStack, launchStack, stackStatus } from '../../cloudformation/index.ts';
import { FakeCloudFormation } from './fake-cfn.ts';

const pace = { eventPollMs: 1, waitDelays: { min: 0.001, max: 0.002 }, maxWaitSeconds: 20 };
const template = buildTemplate();
const body = JSON.stringify(template);
const params = { VpcId: 'vpc-0abc', SubnetId: 'subnet-0abc', HttpsCidr: '203.0.113.0/24' };
const SIGNAL_TIMEOUT = 'Failed to receive 1 resource signal(s) within the specified duration';

function setup() {
  const fake = new FakeCloudFormation();
  const lines: string[] = [];
  const io = { cfn: fake.client, log: (l: string) => lines.push(l), ...pace };
  return { fake, lines, io };
}

describe('launch', () => {
  test('creates the stack, streams every event once in order and returns the outputs', async () => {
    const { fake, lines, io } = setup();
    const res = await launchStack(io, { stackName: 'acme', templateBody: body, template, params });
    expect(res).toMatchObject({ action: 'created', status: 'CREATE_COMPLETE' });
    expect(res.outputs.InstanceId).toBe('i-0123456789abcdef0');
    const create = fake.calls.find((c) => c.command === 'CreateStack')!.input;
    expect(create.Capabilities).toEqual(['CAPABILITY_IAM']);
    expect(create.OnFailure).toBe('ROLLBACK');
    const stack = fake.stack('acme')!;
    const eventLines = lines.filter((l) => /^\d\d:\d\d:\d\d/.test(l));
    // every event the stack produced, exactly once, oldest first (they span several pages)
    expect(eventLines.length).toBe(stack.events.length);
    expect(eventLines.length).toBeGreaterThan(8);
    stack.events.forEach((e, i) => {
      expect(eventLines[i]).toContain(e.ResourceStatus);
      expect(eventLines[i]).toContain(e.LogicalResourceId);
    });
    expect(eventLines.at(-1)).toContain('CREATE_COMPLETE');
    expect(eventLines.some((l) => /CREATE_COMPLETE\s+AWS::EC2::Instance\s+Instance/.test(l))).toBe(true);
  });

  test('events are printed while the stack is still in progress, not only at the end', async () => {
    const fake = new FakeCloudFormation();
    const statusWhenPrinted: string[] = [];
    const io = {
      cfn: fake.client,
      log: (l: string) => {
        if (/^\d\d:\d\d:\d\d/.test(l)) statusWhenPrinted.push(fake.stack('acme')!.status);
      },
      ...pace,
      waitDelays: { min: 0.02, max: 0.03 },
    };
    await launchStack(io, { stackName: 'acme', templateBody: body, template, params });
    expect(statusWhenPrinted.filter((s) => s === 'CREATE_IN_PROGRESS').length).toBeGreaterThan(3);
  });

  test('a stack that rolls back fails with STACK_ROLLED_BACK (exit 3) and the reason', async () => {
    const { fake, lines, io } = setup();
    fake.failNext = { resource: 'Instance', reason: SIGNAL_TIMEOUT };
    const err = await launchStack(io, { stackName: 'acme', templateBody: body, template, params }).catch(
      (e) => e,
    );
    expect(err.code).toBe('STACK_ROLLED_BACK');
    expect(err.exitCode).toBe(3);
    expect(err.message).toBe(`stack acme rolled back (ROLLBACK_COMPLETE): Instance: ${SIGNAL_TIMEOUT}`);
    expect(lines.some((l) => l.includes('CREATE_FAILED') && l.includes(SIGNAL_TIMEOUT))).toBe(true);
    expect(lines.at(-1)).toContain('ROLLBACK_COMPLETE');
    // a rolled-back stack cannot be updated: launch says to delete it
    const again = await launchStack(io, { stackName: 'acme', templateBody: body, template, params }).catch(
      (e) => e,
    );
    expect(again.code).toBe('STACK_FAILED');
    expect(again.message).toContain('delete it first');
    expect(fake.count('UpdateStack')).toBe(0);
  });

  test('updates keep previous parameter values; no change is success', async () => {
    const { fake, lines, io } = setup();
    await launchStack(io, { stackName: 'acme', templateBody: body, template, params });
    const res = await launchStack(io, {
      stackName: 'acme',
      templateBody: body,
      template,
      params: { InstanceType: 'm6i.xlarge' },
    });
    expect(res).toMatchObject({ action: 'updated', status: 'UPDATE_COMPLETE' });
    const update = fake.calls.find((c) => c.command === 'UpdateStack')!.input;
    expect(update.Parameters).toContainEqual({ ParameterKey: 'InstanceType', ParameterValue: 'm6i.xlarge' });
    expect(update.Parameters).toContainEqual({ ParameterKey: 'VpcId', UsePreviousValue: true });
    expect(fake.stack('acme')!.params).toMatchObject({ ...params, InstanceType: 'm6i.xlarge' });
    // only the update's events were printed for the update (none of the create's again)
    const createEvents = fake
      .stack('acme')!
      .events.filter((e) => e.ResourceStatus?.startsWith('CREATE')).length;
    expect(lines.filter((l) => /CREATE_(IN_PROGRESS|COMPLETE)/.test(l)).length).toBe(createEvents);

    const same = await launchStack(io, { stackName: 'acme', templateBody: body, template, params: {} });
    expect(same).toMatchObject({ action: 'unchanged', status: 'UPDATE_COMPLETE' });
  });

  test('an update that rolls back is STACK_ROLLED_BACK and the stack keeps its old values', async () => {
    const { fake, io } = setup();
    await launchStack(io, { stackName: 'acme', templateBody: body, template, params });
    fake.failNext = { resource: 'Instance', reason: 'Instance type m7i.2xlarge is not supported in this AZ' };
    const err = await launchStack(io, {
      stackName: 'acme',
      templateBody: body,
      template,
      params: { InstanceType: 'm7i.2xlarge' },
    }).catch((e) => e);
    expect(err.code).toBe('STACK_ROLLED_BACK');
    expect(err.message).toContain('UPDATE_ROLLBACK_COMPLETE');
    expect(err.message).toContain('not supported in this AZ');
    expect(fake.stack('acme')!.params.InstanceType).toBeUndefined();
  });

  test('what the service refuses is reported, and nothing is created', async () => {
    const { fake, io } = setup();
    const err = await launchStack(io, {
      stackName: 'acme',
      templateBody: body,
      template,
      params: { VpcId: 'vpc-1', SubnetId: 'subnet-1' },
    }).catch((e) => e);
    expect(err.code).toBe('AWS_FAILED');
    expect(err.message).toContain('Parameters: [HttpsCidr] must have values');
    const bad = await launchStack(io, {
      stackName: 'acme',
      templateBody: body,
      template,
      params: { ...params, SshCidr: 'everywhere' },
    }).catch((e) => e);
    expect(bad.message).toContain("Parameter 'SshCidr' must match pattern");
    expect(fake.stacks.size).toBe(0);
    const name = await launchStack(io, {
      stackName: 'no_underscores',
      templateBody: body,
      template,
      params,
    }).catch((e) => e);
    expect(name.code).toBe('USAGE');
    expect(fake.calls).toHaveLength(2 + 2); // two DescribeStacks + two refused CreateStacks; nothing for the bad name
  });
});

test('a waiter that gives up while the stack is still in progress says so', async () => {
  const { fake, io } = setup();
  fake.failNext = undefined;
  const err = await launchStack(
    { ...io, maxWaitSeconds: 0.01, waitDelays: { min: 0.001, max: 0.002 } },
    { stackName: 'slow', templateBody: body, template, params },
  ).catch((e) => e);
  expect(err.code).toBe('STACK_FAILED');
  expect(err.message).toContain('is still CREATE_IN_PROGRESS');
});

describe('status and delete', () => {
  test('status shows outputs and masks NoEcho values; delete streams and waits until gone', async () => {
    const { fake, lines, io } = setup();
    // our template takes no secret (the password stays in SSM); a NoEcho parameter is added here to
    // show that status masks one the way CloudFormation does
    const withSecret = structuredClone(template) as typeof template & { Parameters: Record<string, unknown> };
    withSecret.Parameters.Secret = { Type: 'String', NoEcho: true, Default: '' };
    await launchStack(io, {
      stackName: 'acme',
      templateBody: JSON.stringify(withSecret),
      template: withSecret,
      params: { ...params, AdminPasswordParameter: '/acme/admin', Secret: 'very-secret-password' },
    });
    const s = await stackStatus(fake.client, 'acme');
    expect(s.status).toBe('CREATE_COMPLETE');
    expect(s.outputs.AdminUrl).toMatch(/^https:\/\//);
    expect(s.parameters.Secret).toBe('****');
    expect(s.parameters.AdminPasswordParameter).toBe('/acme/admin');
    expect(JSON.stringify(lines)).not.toContain('very-secret-password');

    lines.length = 0;
    const res = await deleteStack(io, { stackName: 'acme' });
    expect(res).toMatchObject({ action: 'deleted', status: 'DELETE_COMPLETE' });
    expect(lines.some((l) => /DELETE_COMPLETE\s+AWS::EC2::Instance/.test(l))).toBe(true);
    expect(lines.filter((l) => /CREATE_/.test(l))).toEqual([]);
    const gone = await stackStatus(fake.client, 'acme').catch((e) => e);
    expect(gone.code).toBe('NOT_FOUND');
    const again = await deleteStack(io, { stackName: 'acme' }).catch((e) => e);
    expect(again.code).toBe('NOT_FOUND');
  });
});

describe('the drydock aws commands', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = 0;
  });

  async function run(args: string[], fake: FakeCloudFormation) {
    const { Command } = await import('commander');
    const { registerAws } = await import('../../cli/aws.ts');
    const program = new Command('drydock').exitOverride();
    registerAws(program, {
      cloudformation: () => fake.client,
      env: { AWS_REGION: 'eu-west-1' },
      pace: { eventPollMs: 1, waitDelays: pace.waitDelays },
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
    await program.parseAsync(['node', 'drydock', ...args]);
    vi.restoreAllMocks();
    return { code: process.exitCode, stdout, stderr };
  }

  const launchArgs = [
    'aws',
    'launch',
    '--stack',
    'acme',
    '--param',
    'VpcId=vpc-1',
    '--param',
    'SubnetId=subnet-1',
    '--param',
    'HttpsCidr=198.51.100.0/24',
  ];

  test('launch exits 0 and prints the outputs; status and delete work', async () => {
    const fake = new FakeCloudFormation();
    const r = await run(launchArgs, fake);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('stack acme created (CREATE_COMPLETE)');
    expect(r.stdout).toContain('AdminUrl: https://');
    expect(r.stderr).toContain('CREATE_COMPLETE');
    const s = await run(['aws', 'status', '--stack', 'acme', '--json'], fake);
    expect(JSON.parse(s.stdout)).toMatchObject({ ok: true, status: 'CREATE_COMPLETE' });
    const d = await run(['aws', 'delete', '--stack', 'acme'], fake);
    expect(d.code).toBe(0);
    expect(d.stdout).toContain('stack acme deleted');
  });

  test('a rolled-back launch exits 3 and prints the reason', async () => {
    const fake = new FakeCloudFormation();
    fake.failNext = { resource: 'Instance', reason: SIGNAL_TIMEOUT };
    const r = await run(launchArgs, fake);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      `drydock: STACK_ROLLED_BACK: stack acme rolled back (ROLLBACK_COMPLETE): Instance: ${SIGNAL_TIMEOUT}`,
    );
  });

  test('an unknown --param or a missing region is refused before any call', async () => {
    const fake = new FakeCloudFormation();
    const r = await run([...launchArgs, '--param', 'InstanceTyp=t3.large'], fake);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the template has no parameter InstanceTyp');
    const bad = await run(['aws', 'launch', '--stack', 'acme', '--param', 'novalue'], fake);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not of the form Name=value');
    expect(fake.calls).toEqual([]);
  });
});
