import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasFailed, type KubeList, workloadHealth } from '../../updater/cluster/readiness.ts';

const fixture = (n: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', `${n}.json`), 'utf8')) as KubeList;
const web = [{ kind: 'Deployment' as const, namespace: 'demo', name: 'web' }];

describe('readiness from kubectl get -o json', () => {
  it('a finished rollout is ready', () => {
    expect(workloadHealth(fixture('deploy-ready'), web)).toEqual([
      { kind: 'Deployment', namespace: 'demo', name: 'web', ready: true, message: '1/1 ready' },
    ]);
  });

  it('a spec the controller has not observed yet is not ready, even with every pod ready', () => {
    const [h] = workloadHealth(fixture('deploy-not-observed'), web);
    expect(h!.ready).toBe(false);
    expect(h!.message).toBe('rollout pending: generation 3 not yet observed by the controller');
  });

  it('a rollout in progress names the new pod and the old ReplicaSet still serving', () => {
    const [h] = workloadHealth(fixture('deploy-rollout-in-progress'), web);
    expect(h!.ready).toBe(false);
    expect(h!.message).toBe(
      '0/1 ready, rollout in progress: container web ContainerCreating; old ReplicaSet web-7d9c8b5f4c still serving 1',
    );
    expect(hasFailed(h!)).toBe(false);
  });

  it('a crash-looping pod is reported with its exit code and restarts', () => {
    const [h] = workloadHealth(fixture('deploy-crashloop-old-rs-serving'), web);
    expect(h!.ready).toBe(false);
    expect(h!.message).toContain('0/1 ready');
    expect(h!.message).toContain('container web CrashLoopBackOff (exit 1, 4 restarts)');
    expect(h!.message).toContain('old ReplicaSet web-7d9c8b5f4c still serving 1');
  });

  it('a failed Job, a complete Job, a ready StatefulSet and an unready DaemonSet', () => {
    const h = workloadHealth(fixture('jobs-statefulset-daemonset'), [
      { kind: 'Job', namespace: 'demo', name: 'migrate' },
      { kind: 'Job', namespace: 'demo', name: 'seed' },
      { kind: 'StatefulSet', namespace: 'demo', name: 'db' },
      { kind: 'DaemonSet', namespace: 'demo', name: 'agent' },
    ]);
    expect(h.map((x) => [x.name, x.ready, x.message])).toEqual([
      [
        'migrate',
        false,
        'failed: BackoffLimitExceeded (Job has reached the specified backoff limit); container migrate Error (exit 2)',
      ],
      ['seed', true, 'complete (1/1)'],
      ['db', true, '1/1 ready'],
      ['agent', false, '0/1 ready: container agent running but not ready'],
    ]);
    expect(hasFailed(h[0]!)).toBe(true);
  });

  it('a workload missing from the cluster, or in another namespace, is not ready', () => {
    const h = workloadHealth(fixture('deploy-ready'), [
      { kind: 'Deployment', namespace: 'other', name: 'web' },
      { kind: 'StatefulSet', namespace: 'demo', name: 'web' },
    ]);
    expect(h.map((x) => x.message)).toEqual([
      'Deployment other/web not found',
      'StatefulSet demo/web not found',
    ]);
  });
});
