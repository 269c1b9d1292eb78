// Services of the stand-in: a NodePort is routed to a ready pod behind the Service, as kube-proxy
// would (only ready endpoints). The connection is made inside that pod's network namespace.
import { resolvePort } from './controller.ts';
import type { PodRecord, StandinState, StoredObject } from './state.ts';

export interface Endpoint {
  service: string;
  pod: string;
  pid: number;
  port: number;
}

export function serviceForNodePort(s: StandinState, nodePort: number): StoredObject | undefined {
  return Object.values(s.objects).find(
    (o) =>
      o.ref.kind === 'Service' &&
      ((o.object.spec as { ports?: { nodePort?: number }[] } | undefined)?.ports ?? []).some(
        (x) => x.nodePort === nodePort,
      ),
  );
}

/** The endpoint a NodePort connection goes to now, or why there is none. */
export function endpointFor(
  s: StandinState,
  nodePort: number,
  ready: (p: PodRecord) => boolean,
): Endpoint | { error: string } {
  const svc = serviceForNodePort(s, nodePort);
  if (!svc) return { error: `nothing listens on NodePort ${nodePort}` };
  const spec = svc.object.spec as {
    selector?: Record<string, string>;
    ports: { nodePort?: number; targetPort?: number | string; port?: number }[];
  };
  const sp = spec.ports.find((x) => x.nodePort === nodePort)!;
  const selector = Object.entries(spec.selector ?? {});
  const service = `service ${svc.ref.namespace}/${svc.ref.name}`;
  const endpoints = Object.values(s.pods).filter(
    (pod) =>
      pod.namespace === svc.ref.namespace &&
      selector.length > 0 &&
      selector.every(([k, v]) => pod.labels[k] === v) &&
      ready(pod),
  );
  if (endpoints.length === 0) return { error: `no ready endpoint behind NodePort ${nodePort} (${service})` };
  const pod = endpoints[0]!;
  for (const c of (pod.spec.containers as Record<string, unknown>[]) ?? []) {
    const port = resolvePort(c, sp.targetPort ?? sp.port);
    const run = pod.containers.find((x) => x.name === c.name)?.run;
    if (port !== null && run) return { service, pod: pod.name, pid: run.pid, port };
  }
  return { error: `${service}: target port ${String(sp.targetPort)} not found in pod ${pod.name}` };
}
