// Create, update, inspect and delete the appliance stack. Events stream while the SDK's waiter
// waits; the final status decides the outcome: complete → ok, rolled back → STACK_ROLLED_BACK
// (exit 3) with the first failure's reason, anything else → STACK_FAILED.
import {
  type CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStacksCommand,
  type Parameter,
  type Stack,
  type StackEvent,
  UpdateStackCommand,
  waitUntilStackCreateComplete,
  waitUntilStackDeleteComplete,
  waitUntilStackUpdateComplete,
} from '@aws-sdk/client-cloudformation';
import { DrydockError } from '../core/index.ts';
import { type EventWatcher, formatEvent, newestEventId, watchStackEvents } from './events.ts';
import { STACK_NAME_PATTERN } from './quick-create.ts';

export interface StackIo {
  cfn: CloudFormationClient;
  /** a line for people: each stack event as it arrives */
  log?: (line: string) => void;
  /** ms between event polls */
  eventPollMs?: number;
  /** seconds between waiter polls */
  waitDelays?: { min: number; max: number };
  maxWaitSeconds?: number;
}

export interface StackResult {
  stackName: string;
  stackId: string;
  action: 'created' | 'updated' | 'unchanged' | 'deleted';
  status: string;
  outputs: Record<string, string>;
  events: number;
}

const ROLLED_BACK = new Set(['ROLLBACK_COMPLETE', 'UPDATE_ROLLBACK_COMPLETE']);
const IN_PROGRESS = /_IN_PROGRESS$/;

function checkStackName(name: string): void {
  if (!STACK_NAME_PATTERN.test(name))
    throw new DrydockError(
      'USAGE',
      'a stack name starts with a letter and has only letters, digits and - (max 128)',
    );
}

/** `k=v` pairs checked against the template's parameters; an unknown key is refused. */
export function parseParams(
  pairs: string[],
  template: { Parameters?: Record<string, unknown> },
): Record<string, string> {
  const known = Object.keys(template.Parameters ?? {});
  const params: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new DrydockError('USAGE', `parameter "${pair}" is not of the form Name=value`);
    const key = pair.slice(0, eq);
    if (!known.includes(key))
      throw new DrydockError('USAGE', `the template has no parameter ${key} (it has ${known.join(', ')})`);
    params[key] = pair.slice(eq + 1);
  }
  return params;
}

async function describeStack(cfn: CloudFormationClient, stackName: string): Promise<Stack | null> {
  try {
    const res = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    return res.Stacks?.[0] ?? null;
  } catch (err) {
    if (isMissingStack(err)) return null;
    throw cfnError('DescribeStacks', err);
  }
}

export async function launchStack(
  io: StackIo,
  opts: {
    stackName: string;
    /** the template as sent (JSON or YAML) and as parsed */
    templateBody: string;
    template: { Parameters?: Record<string, unknown>; Resources?: Record<string, { Type?: string }> };
    params: Record<string, string>;
    tags?: Record<string, string>;
  },
): Promise<StackResult> {
  checkStackName(opts.stackName);
  const template = opts.template;
  const capabilities = Object.values(template.Resources ?? {}).some((r) => r.Type?.startsWith('AWS::IAM::'))
    ? (['CAPABILITY_IAM'] as const)
    : [];
  const existing = await describeStack(io.cfn, opts.stackName);
  const tags = Object.entries(opts.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));

  if (!existing || existing.StackStatus === 'DELETE_COMPLETE') {
    const parameters: Parameter[] = Object.entries(opts.params).map(([ParameterKey, ParameterValue]) => ({
      ParameterKey,
      ParameterValue,
    }));
    const res = await io.cfn
      .send(
        new CreateStackCommand({
          StackName: opts.stackName,
          TemplateBody: opts.templateBody,
          Parameters: parameters,
          Capabilities: [...capabilities],
          Tags: tags,
          OnFailure: 'ROLLBACK',
        }),
      )
      .catch((err) => {
        throw cfnError('CreateStack', err);
      });
    const stackId = res.StackId ?? opts.stackName;
    io.log?.(`creating stack ${opts.stackName}`);
    return follow(io, opts.stackName, stackId, undefined, 'created', waitUntilStackCreateComplete);
  }

  const status = existing.StackStatus ?? '';
  if (status === 'ROLLBACK_COMPLETE' || status === 'ROLLBACK_FAILED')
    throw new DrydockError(
      'STACK_FAILED',
      `stack ${opts.stackName} is ${status} after a failed create and cannot be updated; delete it first (drydock aws delete --stack ${opts.stackName})`,
    );
  if (IN_PROGRESS.test(status))
    throw new DrydockError(
      'UPDATE_IN_PROGRESS',
      `stack ${opts.stackName} is busy (${status}); try again when it settles`,
    );
  // on update, every parameter not given keeps its previous value
  const given = new Set(Object.keys(opts.params));
  const parameters: Parameter[] = [
    ...Object.entries(opts.params).map(([ParameterKey, ParameterValue]) => ({
      ParameterKey,
      ParameterValue,
    })),
    ...Object.keys(template.Parameters ?? {})
      .filter((k) => !given.has(k) && existing.Parameters?.some((p) => p.ParameterKey === k))
      .map((ParameterKey) => ({ ParameterKey, UsePreviousValue: true })),
  ];
  const stackId = existing.StackId ?? opts.stackName;
  const after = await newestEventId(io.cfn, stackId).catch((err) => {
    throw cfnError('DescribeStackEvents', err);
  });
  try {
    await io.cfn.send(
      new UpdateStackCommand({
        StackName: opts.stackName,
        TemplateBody: opts.templateBody,
        Parameters: parameters,
        Capabilities: [...capabilities],
        Tags: tags.length > 0 ? tags : undefined,
      }),
    );
  } catch (err) {
    if (/No updates are to be performed/i.test((err as Error).message ?? '')) {
      io.log?.(`stack ${opts.stackName} is already up to date`);
      return result(opts.stackName, existing, 'unchanged', 0);
    }
    throw cfnError('UpdateStack', err);
  }
  io.log?.(`updating stack ${opts.stackName}`);
  return follow(io, opts.stackName, stackId, after, 'updated', waitUntilStackUpdateComplete);
}

export async function deleteStack(io: StackIo, opts: { stackName: string }): Promise<StackResult> {
  checkStackName(opts.stackName);
  const existing = await describeStack(io.cfn, opts.stackName);
  if (!existing) throw new DrydockError('NOT_FOUND', `there is no stack ${opts.stackName} in this region`);
  const stackId = existing.StackId ?? opts.stackName;
  const afterId = await newestEventId(io.cfn, stackId).catch((err) => {
    throw cfnError('DescribeStackEvents', err);
  });
  await io.cfn.send(new DeleteStackCommand({ StackName: stackId })).catch((err) => {
    throw cfnError('DeleteStack', err);
  });
  io.log?.(`deleting stack ${opts.stackName}`);
  const watcher = startWatch(io, stackId, afterId);
  try {
    await waitUntilStackDeleteComplete(waiterConfig(io), { StackName: stackId });
  } catch {
    // the final status below says what went wrong
  } finally {
    await watcher.stop();
  }
  const after = await describeStack(io.cfn, stackId);
  const status = after?.StackStatus ?? 'DELETE_COMPLETE';
  if (status !== 'DELETE_COMPLETE')
    throw new DrydockError(
      'STACK_FAILED',
      `deleting ${opts.stackName} ended in ${status}: ${firstFailure(watcher.events) ?? after?.StackStatusReason ?? 'no reason given'}`,
    );
  return {
    stackName: opts.stackName,
    stackId,
    action: 'deleted',
    status,
    outputs: {},
    events: watcher.events.length,
  };
}

export interface StackStatusReport {
  stackName: string;
  stackId: string;
  status: string;
  reason?: string;
  outputs: Record<string, string>;
  parameters: Record<string, string>;
}

export async function stackStatus(cfn: CloudFormationClient, stackName: string): Promise<StackStatusReport> {
  const stack = await describeStack(cfn, stackName);
  if (!stack) throw new DrydockError('NOT_FOUND', `there is no stack ${stackName} in this region`);
  return {
    stackName,
    stackId: stack.StackId ?? stackName,
    status: stack.StackStatus ?? 'UNKNOWN',
    ...(stack.StackStatusReason ? { reason: stack.StackStatusReason } : {}),
    outputs: outputsOf(stack),
    // NoEcho values come back masked as **** from the service
    parameters: Object.fromEntries(
      (stack.Parameters ?? []).map((p) => [p.ParameterKey ?? '', p.ParameterValue ?? '']),
    ),
  };
}

type Waiter = typeof waitUntilStackCreateComplete;

async function follow(
  io: StackIo,
  stackName: string,
  stackId: string,
  afterEventId: string | undefined,
  action: 'created' | 'updated',
  waiter: Waiter,
): Promise<StackResult> {
  const watcher = startWatch(io, stackId, afterEventId);
  try {
    await waiter(waiterConfig(io), { StackName: stackId });
  } catch {
    // a failed or timed-out waiter: the final status below tells which
  } finally {
    await watcher.stop();
  }
  const stack = await describeStack(io.cfn, stackId);
  const status = stack?.StackStatus ?? 'UNKNOWN';
  if (status === 'CREATE_COMPLETE' || status === 'UPDATE_COMPLETE')
    return result(stackName, stack!, action, watcher.events.length);
  if (IN_PROGRESS.test(status))
    throw new DrydockError(
      'STACK_FAILED',
      `stack ${stackName} is still ${status} after waiting ${io.maxWaitSeconds ?? 3 * 3600} s; follow it with drydock aws status --stack ${stackName}`,
    );
  const reason = firstFailure(watcher.events) ?? stack?.StackStatusReason ?? 'no reason given';
  if (ROLLED_BACK.has(status))
    throw new DrydockError('STACK_ROLLED_BACK', `stack ${stackName} rolled back (${status}): ${reason}`, {
      details: { stackId, status, reason },
    });
  throw new DrydockError('STACK_FAILED', `stack ${stackName} ended in ${status}: ${reason}`, {
    details: { stackId, status, reason },
  });
}

function startWatch(io: StackIo, stackId: string, afterEventId: string | undefined): EventWatcher {
  return watchStackEvents({
    cfn: io.cfn,
    stackId,
    afterEventId,
    pollMs: io.eventPollMs ?? 3000,
    onEvent: (e) => io.log?.(formatEvent(e)),
  });
}

function waiterConfig(io: StackIo) {
  const d = io.waitDelays ?? { min: 5, max: 15 };
  return { client: io.cfn, maxWaitTime: io.maxWaitSeconds ?? 3 * 3600, minDelay: d.min, maxDelay: d.max };
}

/** The reason of the first resource that failed, skipping the "cancelled" noise that follows it. */
function firstFailure(events: StackEvent[]): string | undefined {
  const failed = events.filter(
    (e) =>
      e.ResourceStatus?.endsWith('_FAILED') &&
      e.ResourceStatusReason &&
      !/cancelled/i.test(e.ResourceStatusReason),
  );
  const f = failed.find((e) => e.ResourceType !== 'AWS::CloudFormation::Stack') ?? failed[0];
  return f ? `${f.LogicalResourceId}: ${f.ResourceStatusReason}` : undefined;
}

function result(stackName: string, stack: Stack, action: StackResult['action'], events: number): StackResult {
  return {
    stackName,
    stackId: stack.StackId ?? stackName,
    action,
    status: stack.StackStatus ?? 'UNKNOWN',
    outputs: outputsOf(stack),
    events,
  };
}

function outputsOf(stack: Stack): Record<string, string> {
  return Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
}

function isMissingStack(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  return e?.name === 'ValidationError' && /does not exist/.test(e.message ?? '');
}

function cfnError(call: string, err: unknown): DrydockError {
  const e = err as { name?: string; message?: string };
  return new DrydockError(
    'AWS_FAILED',
    `${call} failed: ${e?.name ? `${e.name}: ` : ''}${e?.message ?? String(err)}`,
    {
      cause: err,
    },
  );
}
