// AWS: the stack's CreationPolicy waits for one signal from the box. It is sent once the backend is
// healthy (SUCCESS) or the wait runs out (FAILURE, with the reason), with the instance role's
// credentials; the stack, resource and region came from the user data at first boot.
import { CloudFormationClient, SignalResourceCommand } from '@aws-sdk/client-cloudformation';
import { DrydockError } from '../../core/index.ts';
import { readText, under, writeAtomic } from './fsutil.ts';
import { AWS_FILE } from './run.ts';

export interface Health {
  healthy: boolean;
  /** plain words, e.g. "clickhouse 0/1 ready" */
  reason: string;
}

interface AwsState {
  stack: string;
  resource: string;
  region: string | null;
  instanceId: string;
  signalled?: { at: string; status: 'SUCCESS' | 'FAILURE'; reason: string };
}

export interface SignalOptions {
  root: string;
  /** how healthy the backend is now */
  health: () => Promise<Health>;
  client?: Pick<CloudFormationClient, 'send'>;
  timeoutMs?: number;
  pollMs?: number;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: string) => void;
}

export type SignalOutcome =
  | { signalled: false; reason: string }
  | { signalled: true; status: 'SUCCESS' | 'FAILURE'; reason: string };

export async function signalStack(o: SignalOptions): Promise<SignalOutcome> {
  const text = await readText(under(o.root, AWS_FILE));
  if (!text)
    return { signalled: false, reason: 'not launched by a CloudFormation stack (no stack in the user data)' };
  const st = JSON.parse(text) as AwsState;
  if (st.signalled)
    return { signalled: false, reason: `stack ${st.stack} was signalled already (${st.signalled.status})` };
  const now = o.now ?? (() => new Date());
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now().getTime() + (o.timeoutMs ?? 25 * 60_000);
  let h: Health = { healthy: false, reason: 'not checked yet' };
  for (;;) {
    try {
      h = await o.health();
    } catch (e) {
      h = { healthy: false, reason: (e as Error).message };
    }
    if (h.healthy || now().getTime() >= deadline) break;
    o.log?.(`waiting for the backend: ${h.reason}`);
    await sleep(o.pollMs ?? 5000);
  }
  const status = h.healthy ? 'SUCCESS' : 'FAILURE';
  const client = o.client ?? new CloudFormationClient(st.region ? { region: st.region } : {});
  try {
    await client.send(
      new SignalResourceCommand({
        StackName: st.stack,
        LogicalResourceId: st.resource,
        UniqueId: st.instanceId,
        Status: status,
      }),
    );
  } catch (e) {
    throw new DrydockError(
      'AWS_FAILED',
      `SignalResource on stack ${st.stack} failed: ${(e as Error).message}`,
      { cause: e },
    );
  }
  st.signalled = { at: now().toISOString(), status, reason: h.reason };
  await writeAtomic(under(o.root, AWS_FILE), `${JSON.stringify(st, null, 2)}\n`, 0o600, 0o700);
  return { signalled: true, status, reason: h.reason };
}

/**
 * Health as the engine sees it (Box.status(): the running release's workloads all ready).
 * Written against the engine contract; loaded lazily so first boot itself never needs the engine.
 */
type OpenBox = (o: { root: string }) => Promise<{ status(): Promise<unknown> | unknown; close?(): unknown }>;

export function engineHealth(root: string, openBox?: OpenBox): () => Promise<Health> {
  return async () => {
    const open =
      openBox ?? ((await import('../../updater/engine/index.ts')) as { openBox?: OpenBox }).openBox;
    if (typeof open !== 'function') return { healthy: false, reason: 'the update engine is not available' };
    const box = await open({ root });
    try {
      const s = (await box.status()) as {
        running: { version: string } | null;
        workloads: { name: string; ready: boolean; message: string }[];
      };
      if (!s.running) return { healthy: false, reason: 'no release installed' };
      const waiting = s.workloads.filter((w) => !w.ready);
      if (waiting.length === 0) return { healthy: true, reason: `release ${s.running.version} healthy` };
      return { healthy: false, reason: waiting.map((w) => `${w.name}: ${w.message}`).join('; ') };
    } finally {
      await box.close?.();
    }
  };
}
