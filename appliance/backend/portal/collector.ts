// The OpenTelemetry Collector: OTLP in (gRPC 4317, HTTP 4318), ClickHouse out. Stateless, so the
// chart scales it with an HPA; the exporter creates its tables on first start.
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import YAML from 'yaml';
import type { BackendContext } from '../api.ts';
import { labels, meta, noPrivilege, probes, secretEnv, selector } from './common.ts';

export const COLLECTOR_CONFIG = {
  extensions: { health_check: { endpoint: '0.0.0.0:13133' } },
  receivers: {
    otlp: { protocols: { grpc: { endpoint: '0.0.0.0:4317' }, http: { endpoint: '0.0.0.0:4318' } } },
  },
  processors: {
    memory_limiter: { check_interval: '1s', limit_percentage: 80, spike_limit_percentage: 20 },
    batch: { send_batch_size: 10000, timeout: '5s' },
  },
  exporters: {
    clickhouse: {
      endpoint: 'tcp://clickhouse:9000?dial_timeout=10s',
      database: 'otel',
      username: 'otel',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the collector's own env syntax
      password: '${env:CLICKHOUSE_PASSWORD}',
      ttl: '720h',
      create_schema: true,
      timeout: '10s',
      retry_on_failure: {
        enabled: true,
        initial_interval: '5s',
        max_interval: '30s',
        max_elapsed_time: '300s',
      },
    },
  },
  service: {
    extensions: ['health_check'],
    pipelines: Object.fromEntries(
      ['traces', 'metrics', 'logs'].map((p) => [
        p,
        { receivers: ['otlp'], processors: ['memory_limiter', 'batch'], exporters: ['clickhouse'] },
      ]),
    ),
  },
};

export function collector(ctx: BackendContext) {
  return [
    new ConfigMap({
      metadata: meta('otel-collector-config', 'otel-collector'),
      data: { 'config.yaml': YAML.stringify(COLLECTOR_CONFIG) },
    }),
    // two Services: Traefik speaks h2c (gRPC) to one and HTTP/1.1 to the other
    new Service({
      metadata: {
        ...meta('otel-collector-grpc', 'otel-collector'),
        annotations: { 'traefik.ingress.kubernetes.io/service.serversscheme': 'h2c' },
      },
      spec: {
        selector: selector('otel-collector'),
        ports: [{ name: 'otlp-grpc', port: 4317, targetPort: 'otlp-grpc' }],
      },
    }),
    new Service({
      metadata: meta('otel-collector-http', 'otel-collector'),
      spec: {
        selector: selector('otel-collector'),
        ports: [{ name: 'otlp-http', port: 4318, targetPort: 'otlp-http' }],
      },
    }),
    new Deployment({
      metadata: meta('otel-collector'),
      spec: {
        replicas: 1,
        selector: { matchLabels: selector('otel-collector') },
        template: {
          metadata: { labels: labels('otel-collector') },
          spec: {
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001 },
            containers: [
              {
                name: 'otel-collector',
                image: ctx.image('collector'),
                args: ['--config=/etc/otelcol/config.yaml'],
                ports: [
                  { name: 'otlp-grpc', containerPort: 4317 },
                  { name: 'otlp-http', containerPort: 4318 },
                  { name: 'health', containerPort: 13133 },
                ],
                env: [
                  secretEnv('CLICKHOUSE_PASSWORD', 'clickhouse-password'),
                  { name: 'GOMEMLIMIT', value: '800MiB' },
                ],
                resources: {
                  requests: { cpu: '500m', memory: '512Mi' },
                  limits: { cpu: '1', memory: '1Gi' },
                },
                ...probes({ httpGet: { path: '/', port: 'health' } }, 10),
                securityContext: { ...noPrivilege, readOnlyRootFilesystem: true },
                volumeMounts: [{ name: 'config', mountPath: '/etc/otelcol' }],
              },
            ],
            volumes: [{ name: 'config', configMap: { name: 'otel-collector-config' } }],
          },
        },
      },
    }),
  ];
}
