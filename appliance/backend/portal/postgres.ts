// PostgreSQL: users, settings and dashboards (Grafana's database). One replica on a local-path volume.
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import type { BackendContext } from '../api.ts';
import { labels, meta, NS, probes, secretEnv, selector } from './common.ts';

export function postgres(ctx: BackendContext) {
  return [
    new Service({
      metadata: meta('postgres'),
      spec: {
        clusterIP: 'None',
        selector: selector('postgres'),
        ports: [{ name: 'postgres', port: 5432, targetPort: 'postgres' }],
      },
    }),
    new StatefulSet({
      metadata: meta('postgres'),
      spec: {
        serviceName: 'postgres',
        replicas: 1,
        selector: { matchLabels: selector('postgres') },
        template: {
          metadata: { labels: labels('postgres') },
          spec: {
            automountServiceAccountToken: false,
            // the alpine image's postgres user is uid 70
            securityContext: { fsGroup: 70 },
            terminationGracePeriodSeconds: 60,
            containers: [
              {
                name: 'postgres',
                image: ctx.image('postgres'),
                ports: [{ name: 'postgres', containerPort: 5432 }],
                env: [
                  { name: 'POSTGRES_USER', value: 'portal' },
                  { name: 'POSTGRES_DB', value: 'portal' },
                  secretEnv('POSTGRES_PASSWORD', 'postgres-password'),
                  { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
                ],
                resources: { requests: { cpu: '250m', memory: '1Gi' }, limits: { cpu: '1', memory: '2Gi' } },
                ...probes(
                  { exec: { command: ['pg_isready', '-h', '127.0.0.1', '-U', 'portal', '-d', 'portal'] } },
                  30,
                ),
                volumeMounts: [{ name: 'data', mountPath: '/var/lib/postgresql/data' }],
              },
            ],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data', namespace: NS },
            spec: {
              accessModes: ['ReadWriteOnce'],
              storageClassName: ctx.storageClass,
              resources: { requests: { storage: '20Gi' } },
            },
          },
        ],
      },
    }),
  ];
}
