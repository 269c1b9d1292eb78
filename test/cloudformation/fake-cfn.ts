// A stateful CloudFormation stand-in (aws-sdk-client-mock around a real client). Stacks move
// through the statuses CloudFormation uses, one step per DescribeStacks poll (so time passes as the
// waiter polls), and their events accumulate newest-first with paging, as DescribeStackEvents
// returns them. Create/update checks parameters and capabilities as the service does; a planned
// failure makes a resource fail with a reason and the stack roll back.
import {
  AlreadyExistsException,
  CloudFormationClient,
  CloudFormationServiceException,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  InsufficientCapabilitiesException,
  type Stack,
  type StackEvent,
  UpdateStackCommand,
} from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { parse as parseYaml } from 'yaml';

// biome-ignore lint/suspicious/noExplicitAny: templates are free-form
type Any = any;
// Drydock runs on Node 20; the SDK's notice about its future Node 22 floor is noise in test output
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const meta = { $metadata: {} };
const validation = (message: string) =>
  new CloudFormationServiceException({ name: 'ValidationError', $fault: 'client', ...meta, message });

interface FakeStack {
  id: string;
  name: string;
  status: string;
  reason?: string;
  body: string;
  template: Any;
  params: Record<string, string>;
  events: StackEvent[];
  steps: Array<() => void>;
  outputs: Record<string, string>;
}

export class FakeCloudFormation {
  readonly client = new CloudFormationClient({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  readonly stacks = new Map<string, FakeStack>();
  readonly calls: { command: string; input: Any }[] = [];
  /** the next create/update fails at this resource with this reason, then rolls back */
  failNext: { resource: string; reason: string } | undefined;
  private seq = 0;
  private clock = Date.parse('2026-11-21T06:00:00Z');

  constructor(readonly region = 'eu-west-1') {
    const m = mockClient(this.client);
    m.on(CreateStackCommand).callsFake(async (input) => this.create(input));
    m.on(UpdateStackCommand).callsFake(async (input) => this.update(input));
    m.on(DeleteStackCommand).callsFake(async (input) => this.delete(input));
    m.on(DescribeStacksCommand).callsFake(async (input) => this.describe(input));
    m.on(DescribeStackEventsCommand).callsFake(async (input) => this.describeEvents(input));
  }

  count(command: string): number {
    return this.calls.filter((c) => c.command === command).length;
  }

  stack(name: string): FakeStack | undefined {
    return [...this.stacks.values()].reverse().find((s) => s.name === name || s.id === name);
  }

  private live(name: string): FakeStack | undefined {
    const s = this.stack(name);
    return s && (s.status !== 'DELETE_COMPLETE' || s.id === name) ? s : undefined;
  }

  private event(s: FakeStack, logical: string, type: string, status: string, reason?: string) {
    this.clock += 1000;
    s.events.push({
      StackId: s.id,
      StackName: s.name,
      EventId: `${logical}-${++this.seq}`,
      LogicalResourceId: logical,
      ResourceType: type,
      ResourceStatus: status as never,
      Timestamp: new Date(this.clock),
      ...(reason ? { ResourceStatusReason: reason } : {}),
    });
  }

  private stackEvent(s: FakeStack, status: string, reason?: string) {
    s.status = status;
    s.reason = reason;
    this.event(s, s.name, 'AWS::CloudFormation::Stack', status, reason);
  }

  private checkParams(template: Any, given: Record<string, string>) {
    const declared = template.Parameters ?? {};
    const unknown = Object.keys(given).filter((k) => !(k in declared));
    if (unknown.length) throw validation(`Parameters: [${unknown.join(', ')}] do not exist in the template`);
    const missing = Object.keys(declared).filter((k) => !(k in given) && declared[k].Default === undefined);
    if (missing.length) throw validation(`Parameters: [${missing.join(', ')}] must have values`);
    for (const [k, p] of Object.entries(declared) as [string, Any][]) {
      const v = given[k] ?? String(p.Default);
      if (p.AllowedValues && !p.AllowedValues.map(String).includes(v))
        throw validation(`Parameter '${k}' must be one of AllowedValues`);
      if (p.AllowedPattern && !new RegExp(p.AllowedPattern).test(v))
        throw validation(`Parameter '${k}' must match pattern ${p.AllowedPattern}`);
    }
  }

  private parse(input: Any): Any {
    try {
      return parseYaml(input.TemplateBody);
    } catch {
      throw validation('Template format error: unsupported structure.');
    }
  }

  private checkCapabilities(template: Any, input: Any) {
    const iam = Object.values(template.Resources ?? {}).some((r: Any) =>
      String(r.Type).startsWith('AWS::IAM::'),
    );
    if (iam && !(input.Capabilities ?? []).includes('CAPABILITY_IAM'))
      throw new InsufficientCapabilitiesException({
        ...meta,
        message: 'Requires capabilities : [CAPABILITY_IAM]',
      });
  }

  private resources(s: FakeStack): [string, string][] {
    return Object.entries(s.template.Resources ?? {})
      .filter(([, r]: [string, Any]) => r.Condition === undefined)
      .map(([k, r]: [string, Any]) => [k, r.Type]);
  }

  private create(input: Any) {
    this.calls.push({ command: 'CreateStack', input });
    if (this.live(input.StackName))
      throw new AlreadyExistsException({ ...meta, message: `Stack [${input.StackName}] already exists` });
    const template = this.parse(input);
    const params = Object.fromEntries(
      (input.Parameters ?? []).map((p: Any) => [p.ParameterKey, p.ParameterValue]),
    );
    this.checkParams(template, params);
    this.checkCapabilities(template, input);
    const s: FakeStack = {
      id: `arn:aws:cloudformation:${this.region}:123456789012:stack/${input.StackName}/${++this.seq}`,
      name: input.StackName,
      status: 'CREATE_IN_PROGRESS',
      body: input.TemplateBody,
      template,
      params,
      events: [],
      steps: [],
      outputs: {},
    };
    this.stacks.set(s.id, s);
    this.stackEvent(s, 'CREATE_IN_PROGRESS', 'User Initiated');
    const fail = this.failNext;
    this.failNext = undefined;
    const created: [string, string][] = [];
    for (const [logical, type] of this.resources(s)) {
      s.steps.push(() => this.event(s, logical, type, 'CREATE_IN_PROGRESS'));
      if (fail?.resource === logical) {
        s.steps.push(() => this.event(s, logical, type, 'CREATE_FAILED', fail.reason));
        s.steps.push(() =>
          this.stackEvent(
            s,
            'ROLLBACK_IN_PROGRESS',
            `The following resource(s) failed to create: [${logical}]. Rollback requested by user.`,
          ),
        );
        for (const [l, t] of [[logical, type] as [string, string], ...created.reverse()]) {
          s.steps.push(() => this.event(s, l, t, 'DELETE_IN_PROGRESS'));
          s.steps.push(() => this.event(s, l, t, 'DELETE_COMPLETE'));
        }
        s.steps.push(() => this.stackEvent(s, 'ROLLBACK_COMPLETE'));
        return { StackId: s.id };
      }
      s.steps.push(() => this.event(s, logical, type, 'CREATE_COMPLETE'));
      created.push([logical, type]);
    }
    s.steps.push(() => {
      s.outputs = {
        AdminUrl: 'https://ec2-203-0-113-7.eu-west-1.compute.amazonaws.com',
        InstanceId: 'i-0123456789abcdef0',
      };
      this.stackEvent(s, 'CREATE_COMPLETE');
    });
    return { StackId: s.id };
  }

  private update(input: Any) {
    this.calls.push({ command: 'UpdateStack', input });
    const s = this.live(input.StackName);
    if (!s) throw validation(`Stack [${input.StackName}] does not exist`);
    if (!/_COMPLETE$/.test(s.status) || s.status === 'ROLLBACK_COMPLETE')
      throw validation(`Stack:${s.id} is in ${s.status} state and can not be updated.`);
    const template = this.parse(input);
    const params: Record<string, string> = {};
    for (const p of input.Parameters ?? []) {
      if (p.UsePreviousValue) {
        if (!(p.ParameterKey in s.params))
          throw validation(`Parameter ${p.ParameterKey} has no previous value`);
        params[p.ParameterKey] = s.params[p.ParameterKey]!;
      } else params[p.ParameterKey] = p.ParameterValue;
    }
    this.checkParams(template, params);
    this.checkCapabilities(template, input);
    if (input.TemplateBody === s.body && JSON.stringify(params) === JSON.stringify(s.params))
      throw validation('No updates are to be performed.');
    const previous = { body: s.body, template: s.template, params: s.params };
    Object.assign(s, { body: input.TemplateBody, template, params });
    this.stackEvent(s, 'UPDATE_IN_PROGRESS', 'User Initiated');
    const fail = this.failNext;
    this.failNext = undefined;
    const target = fail?.resource ?? 'Instance';
    const type = s.template.Resources?.[target]?.Type ?? 'AWS::EC2::Instance';
    s.steps.push(() => this.event(s, target, type, 'UPDATE_IN_PROGRESS'));
    if (fail) {
      s.steps.push(() => this.event(s, target, type, 'UPDATE_FAILED', fail.reason));
      s.steps.push(() =>
        this.stackEvent(
          s,
          'UPDATE_ROLLBACK_IN_PROGRESS',
          `The following resource(s) failed to update: [${target}].`,
        ),
      );
      s.steps.push(() => this.event(s, target, type, 'UPDATE_COMPLETE'));
      s.steps.push(() => this.stackEvent(s, 'UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS'));
      s.steps.push(() => {
        Object.assign(s, previous);
        this.stackEvent(s, 'UPDATE_ROLLBACK_COMPLETE');
      });
    } else {
      s.steps.push(() => this.event(s, target, type, 'UPDATE_COMPLETE'));
      s.steps.push(() => this.stackEvent(s, 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS'));
      s.steps.push(() => this.stackEvent(s, 'UPDATE_COMPLETE'));
    }
    return { StackId: s.id };
  }

  private delete(input: Any) {
    this.calls.push({ command: 'DeleteStack', input });
    const s = this.live(input.StackName);
    if (!s || s.status === 'DELETE_COMPLETE') return {};
    this.stackEvent(s, 'DELETE_IN_PROGRESS', 'User Initiated');
    const live = s.status === 'ROLLBACK_COMPLETE' ? [] : this.resources(s).reverse();
    for (const [l, t] of live) {
      s.steps.push(() => this.event(s, l, t, 'DELETE_IN_PROGRESS'));
      s.steps.push(() => this.event(s, l, t, 'DELETE_COMPLETE'));
    }
    s.steps.push(() => this.stackEvent(s, 'DELETE_COMPLETE'));
    return {};
  }

  private describe(input: Any) {
    this.calls.push({ command: 'DescribeStacks', input });
    const s = this.live(input.StackName);
    if (!s) throw validation(`Stack with id ${input.StackName} does not exist`);
    s.steps.shift()?.();
    const stack: Stack = {
      StackId: s.id,
      StackName: s.name,
      StackStatus: s.status as never,
      ...(s.reason ? { StackStatusReason: s.reason } : {}),
      CreationTime: new Date(this.clock),
      Parameters: Object.entries(s.params).map(([ParameterKey, ParameterValue]) => ({
        ParameterKey,
        ParameterValue: s.template.Parameters?.[ParameterKey]?.NoEcho ? '****' : ParameterValue,
      })),
      Outputs: Object.entries(s.outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
    };
    return { Stacks: [stack] };
  }

  private describeEvents(input: Any) {
    this.calls.push({ command: 'DescribeStackEvents', input });
    const s = this.live(input.StackName);
    if (!s) throw validation(`Stack [${input.StackName}] does not exist`);
    const newestFirst = [...s.events].reverse();
    const start = input.NextToken ? Number(input.NextToken) : 0;
    const page = newestFirst.slice(start, start + 4);
    return {
      StackEvents: page,
      ...(start + 4 < newestFirst.length ? { NextToken: String(start + 4) } : {}),
    };
  }
}
