// Shared pieces of the reference portal: its namespace, labels and probe defaults.
import type { IIoK8sApiCoreV1Probe } from 'kubernetes-models/v1';

export const NS = 'portal';
export const CREDENTIALS = 'portal-credentials';

export function labels(component: string): Record<string, string> {
  return { 'app.kubernetes.io/name': component, 'app.kubernetes.io/part-of': 'observability-portal' };
}

export function selector(component: string): Record<string, string> {
  return { 'app.kubernetes.io/name': component };
}

export function meta(name: string, component = name) {
  return { name, namespace: NS, labels: labels(component) };
}

export function secretEnv(name: string, key: string) {
  return { name, valueFrom: { secretKeyRef: { name: CREDENTIALS, key } } };
}

/** Readiness answers fast; liveness waits longer so a slow start is not killed. */
export function probes(p: Omit<IIoK8sApiCoreV1Probe, 'periodSeconds'>, startupSeconds: number) {
  return {
    readinessProbe: { ...p, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 },
    livenessProbe: {
      ...p,
      initialDelaySeconds: startupSeconds,
      periodSeconds: 15,
      timeoutSeconds: 5,
      failureThreshold: 4,
    },
  };
}

export const noPrivilege = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
};
