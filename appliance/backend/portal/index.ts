// The reference backend: an observability portal (OTLP → ClickHouse, PostgreSQL, Grafana).
// A vendor's own backend is a folder with an index.ts exporting the same BackendSource shape.
import { join } from 'node:path';
import { Namespace } from 'kubernetes-models/v1';
import type { BackendSource } from '../api.ts';
import { clickhouse } from './clickhouse.ts';
import { collector } from './collector.ts';
import { CREDENTIALS, NS } from './common.ts';
import { grafana } from './grafana.ts';
import { ingresses } from './ingress.ts';
import { networkPolicies } from './network.ts';
import { postgres } from './postgres.ts';

export const backend: BackendSource = {
  name: 'observability-portal',
  version: '1.0.0',
  description: 'OTLP ingest into ClickHouse, PostgreSQL for users and settings, Grafana dashboards',
  lockFile: join(import.meta.dirname, '..', 'images.lock.yaml'),
  objects: (ctx) => [
    new Namespace({
      metadata: { name: NS, labels: { 'app.kubernetes.io/part-of': 'observability-portal' } },
    }),
    ...networkPolicies(ctx),
    ...postgres(ctx),
    ...clickhouse(ctx),
    ...collector(ctx),
    ...grafana(ctx),
    ...ingresses(ctx),
  ],
  autoscale: [
    {
      namespace: NS,
      deployment: 'otel-collector',
      key: 'collector',
      minReplicas: 2,
      maxReplicas: 8,
      targetCPUUtilizationPercentage: 70,
    },
    {
      namespace: NS,
      deployment: 'grafana',
      key: 'grafana',
      minReplicas: 2,
      maxReplicas: 4,
      targetCPUUtilizationPercentage: 75,
    },
  ],
  entrypoints: [
    { name: 'otlp-grpc', port: 4317 },
    { name: 'otlp-http', port: 4318 },
  ],
  generatedSecrets: [
    {
      namespace: NS,
      name: CREDENTIALS,
      keys: ['postgres-password', 'clickhouse-password', 'grafana-admin-password'],
    },
  ],
  health: {
    workloads: [
      { kind: 'StatefulSet', namespace: NS, name: 'postgres' },
      { kind: 'StatefulSet', namespace: NS, name: 'clickhouse' },
      { kind: 'Deployment', namespace: NS, name: 'otel-collector' },
      { kind: 'Deployment', namespace: NS, name: 'grafana' },
    ],
  },
};

export default backend;
