// Grafana: the dashboards. Its database is PostgreSQL, so it is stateless and scales; its data
// source (ClickHouse) and dashboards are provisioned from ConfigMaps; the ClickHouse plugin comes
// from a pinned image through an init container, so nothing is downloaded at run time.
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import YAML from 'yaml';
import type { BackendContext } from '../api.ts';
import { labels, meta, noPrivilege, probes, secretEnv, selector } from './common.ts';

const DATASOURCES = {
  apiVersion: 1,
  datasources: [
    {
      name: 'ClickHouse',
      uid: 'clickhouse',
      type: 'grafana-clickhouse-datasource',
      isDefault: true,
      editable: false,
      jsonData: {
        host: 'clickhouse',
        port: 9000,
        protocol: 'native',
        username: 'otel',
        defaultDatabase: 'otel',
        traces: { defaultDatabase: 'otel', defaultTable: 'otel_traces', otelEnabled: true },
        logs: { defaultDatabase: 'otel', defaultTable: 'otel_logs', otelEnabled: true },
      },
      // Grafana expands environment variables in provisioning files
      secureJsonData: { password: '$CLICKHOUSE_PASSWORD' },
    },
  ],
};

const DASHBOARD_PROVIDER = {
  apiVersion: 1,
  providers: [
    {
      name: 'portal',
      folder: 'Portal',
      type: 'file',
      disableDeletion: true,
      options: { path: '/var/lib/grafana/dashboards' },
    },
  ],
};

const OVERVIEW = {
  uid: 'portal-overview',
  title: 'Telemetry overview',
  schemaVersion: 39,
  time: { from: 'now-6h', to: 'now' },
  panels: [
    {
      id: 1,
      type: 'timeseries',
      title: 'Spans per minute by service',
      gridPos: { x: 0, y: 0, w: 24, h: 9 },
      datasource: { type: 'grafana-clickhouse-datasource', uid: 'clickhouse' },
      targets: [
        {
          refId: 'A',
          queryType: 'timeseries',
          rawSql:
            'SELECT toStartOfMinute(Timestamp) AS t, ServiceName, count() AS spans FROM otel.otel_traces WHERE $__timeFilter(Timestamp) GROUP BY t, ServiceName ORDER BY t',
        },
      ],
    },
  ],
};

export function grafana(ctx: BackendContext) {
  return [
    new ConfigMap({
      metadata: meta('grafana-provisioning', 'grafana'),
      data: {
        'datasources.yaml': YAML.stringify(DATASOURCES),
        'dashboards.yaml': YAML.stringify(DASHBOARD_PROVIDER),
      },
    }),
    new ConfigMap({
      metadata: meta('grafana-dashboards', 'grafana'),
      data: { 'overview.json': JSON.stringify(OVERVIEW, null, 2) },
    }),
    new Service({
      metadata: meta('grafana'),
      spec: { selector: selector('grafana'), ports: [{ name: 'http', port: 3000, targetPort: 'http' }] },
    }),
    new Deployment({
      metadata: meta('grafana'),
      spec: {
        replicas: 1,
        selector: { matchLabels: selector('grafana') },
        template: {
          metadata: { labels: labels('grafana') },
          spec: {
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 472, runAsGroup: 472, fsGroup: 472 },
            initContainers: [
              {
                name: 'plugins',
                image: ctx.image('grafana-plugins'),
                command: ['cp', '-R', '/plugins/.', '/var/lib/grafana/plugins/'],
                resources: {
                  requests: { cpu: '50m', memory: '32Mi' },
                  limits: { cpu: '200m', memory: '64Mi' },
                },
                securityContext: { ...noPrivilege, readOnlyRootFilesystem: true },
                volumeMounts: [{ name: 'plugins', mountPath: '/var/lib/grafana/plugins' }],
              },
            ],
            containers: [
              {
                name: 'grafana',
                image: ctx.image('grafana'),
                ports: [{ name: 'http', containerPort: 3000 }],
                env: [
                  { name: 'GF_DATABASE_TYPE', value: 'postgres' },
                  { name: 'GF_DATABASE_HOST', value: 'postgres:5432' },
                  { name: 'GF_DATABASE_NAME', value: 'portal' },
                  { name: 'GF_DATABASE_USER', value: 'portal' },
                  secretEnv('GF_DATABASE_PASSWORD', 'postgres-password'),
                  secretEnv('GF_SECURITY_ADMIN_PASSWORD', 'grafana-admin-password'),
                  secretEnv('CLICKHOUSE_PASSWORD', 'clickhouse-password'),
                  { name: 'GF_PATHS_PROVISIONING', value: '/etc/grafana/provisioning' },
                  { name: 'GF_PLUGINS_PREINSTALL_DISABLED', value: 'true' },
                  { name: 'GF_ANALYTICS_REPORTING_ENABLED', value: 'false' },
                  { name: 'GF_ANALYTICS_CHECK_FOR_UPDATES', value: 'false' },
                  { name: 'GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES', value: 'false' },
                  { name: 'GF_NEWS_NEWS_FEED_ENABLED', value: 'false' },
                ],
                resources: {
                  requests: { cpu: '250m', memory: '256Mi' },
                  limits: { cpu: '1', memory: '1Gi' },
                },
                ...probes({ httpGet: { path: '/api/health', port: 'http' } }, 30),
                securityContext: noPrivilege,
                volumeMounts: [
                  { name: 'plugins', mountPath: '/var/lib/grafana/plugins' },
                  {
                    name: 'provisioning',
                    mountPath: '/etc/grafana/provisioning/datasources/datasources.yaml',
                    subPath: 'datasources.yaml',
                  },
                  {
                    name: 'provisioning',
                    mountPath: '/etc/grafana/provisioning/dashboards/dashboards.yaml',
                    subPath: 'dashboards.yaml',
                  },
                  { name: 'dashboards', mountPath: '/var/lib/grafana/dashboards' },
                ],
              },
            ],
            volumes: [
              { name: 'plugins', emptyDir: { sizeLimit: '512Mi' } },
              { name: 'provisioning', configMap: { name: 'grafana-provisioning' } },
              { name: 'dashboards', configMap: { name: 'grafana-dashboards' } },
            ],
          },
        },
      },
    }),
  ];
}
