// ClickHouse: the telemetry store. One replica, data on a local-path volume on the data disk.
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import type { BackendContext } from '../api.ts';
import { labels, meta, NS, probes, secretEnv, selector } from './common.ts';

const CONFIG = `<clickhouse>
  <logger><level>warning</level><console>1</console></logger>
  <!-- stay well inside the container limit -->
  <max_server_memory_usage_to_ram_ratio>0.75</max_server_memory_usage_to_ram_ratio>
  <mark_cache_size>268435456</mark_cache_size>
</clickhouse>
`;

export function clickhouse(ctx: BackendContext) {
  return [
    new ConfigMap({ metadata: meta('clickhouse-config', 'clickhouse'), data: { 'drydock.xml': CONFIG } }),
    new Service({
      metadata: meta('clickhouse'),
      spec: {
        clusterIP: 'None',
        selector: selector('clickhouse'),
        ports: [
          { name: 'native', port: 9000, targetPort: 'native' },
          { name: 'http', port: 8123, targetPort: 'http' },
        ],
      },
    }),
    new StatefulSet({
      metadata: meta('clickhouse'),
      spec: {
        serviceName: 'clickhouse',
        replicas: 1,
        selector: { matchLabels: selector('clickhouse') },
        template: {
          metadata: { labels: labels('clickhouse') },
          spec: {
            automountServiceAccountToken: false,
            securityContext: { fsGroup: 101 },
            terminationGracePeriodSeconds: 60,
            containers: [
              {
                name: 'clickhouse',
                image: ctx.image('clickhouse'),
                ports: [
                  { name: 'native', containerPort: 9000 },
                  { name: 'http', containerPort: 8123 },
                ],
                env: [
                  { name: 'CLICKHOUSE_DB', value: 'otel' },
                  { name: 'CLICKHOUSE_USER', value: 'otel' },
                  secretEnv('CLICKHOUSE_PASSWORD', 'clickhouse-password'),
                  { name: 'CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT', value: '1' },
                ],
                resources: { requests: { cpu: '1', memory: '4Gi' }, limits: { cpu: '2', memory: '6Gi' } },
                ...probes({ httpGet: { path: '/ping', port: 'http' } }, 30),
                volumeMounts: [
                  { name: 'data', mountPath: '/var/lib/clickhouse' },
                  {
                    name: 'config',
                    mountPath: '/etc/clickhouse-server/config.d/drydock.xml',
                    subPath: 'drydock.xml',
                  },
                ],
              },
            ],
            volumes: [{ name: 'config', configMap: { name: 'clickhouse-config' } }],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data', namespace: NS },
            spec: {
              accessModes: ['ReadWriteOnce'],
              storageClassName: ctx.storageClass,
              resources: { requests: { storage: '50Gi' } },
            },
          },
        ],
      },
    }),
  ];
}
