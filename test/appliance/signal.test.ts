import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudFormationClient, SignalResourceCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { AWS_FILE, engineHealth, signalStack } from '../../appliance/index.ts';
import { makeRoot } from './helpers.ts';

const cfn = mockClient(CloudFormationClient);
const cleanups: (() => void)[] = [];
afterEach(() => {
  cfn.reset();
  for (const c of cleanups.splice(0)) c();
});

function boxWithStack() {
  const { root, cleanup } = makeRoot();
  cleanups.push(cleanup);
  mkdirSync(join(root, 'var/lib/drydock/firstboot'), { recursive: true });
  writeFileSync(
    join(root, AWS_FILE),
    JSON.stringify({
      stack: 'drydock-portal',
      resource: 'Appliance',
      region: 'eu-west-1',
      instanceId: 'i-0123',
    }),
  );
  return root;
}

describe('CloudFormation signal', () => {
  it('waits for health, signals SUCCESS once, then never again', async () => {
    const root = boxWithStack();
    cfn.on(SignalResourceCommand).resolves({});
    let n = 0;
    const health = async () =>
      ++n < 3 ? { healthy: false, reason: 'clickhouse 0/1 ready' } : { healthy: true, reason: 'ok' };
    const r = await signalStack({
      root,
      health,
      client: new CloudFormationClient({ region: 'eu-west-1' }),
      sleep: async () => {},
    });
    expect(r).toEqual({ signalled: true, status: 'SUCCESS', reason: 'ok' });
    expect(n).toBe(3);
    expect(cfn.commandCalls(SignalResourceCommand).map((c) => c.args[0].input)).toEqual([
      { StackName: 'drydock-portal', LogicalResourceId: 'Appliance', UniqueId: 'i-0123', Status: 'SUCCESS' },
    ]);
    expect(JSON.parse(readFileSync(join(root, AWS_FILE), 'utf8')).signalled.status).toBe('SUCCESS');
    const again = await signalStack({ root, health, client: new CloudFormationClient({}) });
    expect(again.signalled).toBe(false);
    expect(cfn.commandCalls(SignalResourceCommand)).toHaveLength(1);
  });

  it('signals FAILURE when the deadline passes', async () => {
    const root = boxWithStack();
    cfn.on(SignalResourceCommand).resolves({});
    let t = 0;
    const r = await signalStack({
      root,
      health: async () => ({ healthy: false, reason: 'postgres: CrashLoopBackOff' }),
      client: new CloudFormationClient({ region: 'eu-west-1' }),
      timeoutMs: 10_000,
      now: () => new Date(t),
      sleep: async (ms) => {
        t += ms;
      },
    });
    expect(r).toEqual({ signalled: true, status: 'FAILURE', reason: 'postgres: CrashLoopBackOff' });
    expect(cfn.commandCalls(SignalResourceCommand)[0]!.args[0].input.Status).toBe('FAILURE');
  });

  it('reports an AWS error with a stable code and records nothing', async () => {
    const root = boxWithStack();
    cfn.on(SignalResourceCommand).rejects(new Error('AccessDenied'));
    await expect(
      signalStack({
        root,
        health: async () => ({ healthy: true, reason: 'ok' }),
        client: new CloudFormationClient({ region: 'eu-west-1' }),
      }),
    ).rejects.toMatchObject({ code: 'AWS_FAILED' });
    expect(JSON.parse(readFileSync(join(root, AWS_FILE), 'utf8')).signalled).toBeUndefined();
  });

  it('does nothing off CloudFormation', async () => {
    const { root, cleanup } = makeRoot();
    cleanups.push(cleanup);
    const r = await signalStack({
      root,
      health: async () => ({ healthy: true, reason: '' }),
      client: new CloudFormationClient({}),
    });
    expect(r.signalled).toBe(false);
    expect(cfn.calls()).toHaveLength(0);
  });
});

describe('health as the engine reports it', () => {
  const status = (
    running: { version: string } | null,
    workloads: { name: string; ready: boolean; message: string }[],
  ) => {
    let closed = 0;
    const open = async () => ({
      status: async () => ({ running, workloads }),
      close: async () => {
        closed++;
      },
    });
    return { open, closed: () => closed };
  };

  it('is healthy only with a running release whose workloads are all ready, and closes the box', async () => {
    const none = status(null, []);
    expect(await engineHealth('/x', none.open)()).toEqual({ healthy: false, reason: 'no release installed' });
    const waiting = status({ version: '1.0.0' }, [
      { name: 'clickhouse', ready: false, message: '0/1 ready' },
      { name: 'grafana', ready: true, message: '1/1 ready' },
    ]);
    expect(await engineHealth('/x', waiting.open)()).toEqual({
      healthy: false,
      reason: 'clickhouse: 0/1 ready',
    });
    const ok = status({ version: '1.0.0' }, [{ name: 'grafana', ready: true, message: '1/1 ready' }]);
    expect(await engineHealth('/x', ok.open)()).toEqual({ healthy: true, reason: 'release 1.0.0 healthy' });
    expect(ok.closed() + waiting.closed() + none.closed()).toBe(3);
  });
});
