// NetworkPolicies: everything in the namespace is denied, then each path that belongs is opened:
// DNS for all; the ingress controller to Grafana and the collector; the collector and Grafana to
// ClickHouse; Grafana to PostgreSQL. Nothing in the namespace may reach the internet.
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { BackendContext } from '../api.ts';
import { NS, selector } from './common.ts';

function pods(component: string) {
  return { podSelector: { matchLabels: selector(component) } };
}

function tcp(...ports: number[]) {
  return ports.map((port) => ({ protocol: 'TCP' as const, port }));
}

export function networkPolicies(ctx: BackendContext) {
  const ingressController = {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ctx.ingressController.namespace } },
    podSelector: {
      matchLabels: { [ctx.ingressController.podLabel.key]: ctx.ingressController.podLabel.value },
    },
  };
  const policy = (name: string, spec: NetworkPolicy['spec']) =>
    new NetworkPolicy({ metadata: { name, namespace: NS }, spec });
  return [
    policy('default-deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    policy('allow-dns', {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
      ],
    }),
    policy('otel-collector', {
      ...pods('otel-collector'),
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [ingressController], ports: tcp(4317, 4318) }],
      egress: [{ to: [pods('clickhouse')], ports: tcp(9000) }],
    }),
    policy('grafana', {
      ...pods('grafana'),
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [ingressController], ports: tcp(3000) }],
      egress: [
        { to: [pods('postgres')], ports: tcp(5432) },
        { to: [pods('clickhouse')], ports: tcp(9000) },
      ],
    }),
    policy('clickhouse', {
      ...pods('clickhouse'),
      policyTypes: ['Ingress'],
      ingress: [{ from: [pods('otel-collector'), pods('grafana')], ports: tcp(9000) }],
    }),
    policy('postgres', {
      ...pods('postgres'),
      policyTypes: ['Ingress'],
      ingress: [{ from: [pods('grafana')], ports: tcp(5432) }],
    }),
  ];
}
