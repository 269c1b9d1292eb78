import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import type { BackendSource, KubeObject } from '../../appliance/index.ts';
import { loadBackendRenderer } from '../../appliance/index.ts';
import { helmTemplate, renderTemplate } from './helm-mini.ts';

// biome-ignore lint/suspicious/noExplicitAny: the tests walk arbitrary manifest JSON
type Json = any;

const R = await loadBackendRenderer();
let source: BackendSource;
let box: Awaited<ReturnType<typeof R.renderBoxFiles>>;
let chart: Record<string, string>;

beforeAll(async () => {
  source = await R.loadSource();
  box = await R.renderBoxFiles(source);
  chart = await R.renderChartFiles(source);
});

const id = (o: KubeObject) => R.objectId(o);

function cpu(q: string): number {
  return q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
}
function mem(q: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(q)!;
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

type Pod = { containers: Record<string, Json>[]; initContainers?: Record<string, Json>[] };
function podOf(o: Json): Pod | null {
  return o.spec?.template?.spec ?? null;
}

describe('the reference backend, rendered for the box', () => {
  it('validates every object against the Kubernetes schema (kubernetes-models)', async () => {
    const docs = YAML.parseAllDocuments(box.files['backend.yaml']!).map((d) => d.toJS() as KubeObject);
    expect(docs.length).toBe(box.rendered.objects.length);
    for (const d of docs) await expect(R.validateObject(d)).resolves.toBeTruthy();
    expect(docs[0]!.kind).toBe('Namespace');
    expect(docs.map((d) => d.kind)).toEqual(
      expect.arrayContaining([
        'StatefulSet',
        'Deployment',
        'NetworkPolicy',
        'Ingress',
        'ConfigMap',
        'Service',
      ]),
    );
  });

  it('has the portal: collector on 4317/4318, ClickHouse and PostgreSQL StatefulSets on local-path volumes, Grafana', () => {
    const o = new Map(box.rendered.objects.map((x) => [id(x), x as Json]));
    const col = o.get('Deployment/portal/otel-collector');
    expect(col.spec.template.spec.containers[0].ports.map((p: Json) => p.containerPort)).toEqual([
      4317, 4318, 13133,
    ]);
    for (const db of ['clickhouse', 'postgres']) {
      const sts = o.get(`StatefulSet/portal/${db}`);
      expect(sts.spec.volumeClaimTemplates[0].spec.storageClassName).toBe('local-path');
    }
    const cfg = YAML.parse(o.get('ConfigMap/portal/otel-collector-config').data['config.yaml']);
    expect(cfg.exporters.clickhouse.endpoint).toContain('tcp://clickhouse:9000');
    expect(cfg.service.pipelines.traces.exporters).toEqual(['clickhouse']);
    const ds = YAML.parse(o.get('ConfigMap/portal/grafana-provisioning').data['datasources.yaml']);
    expect(ds.datasources[0].type).toBe('grafana-clickhouse-datasource');
    const gf = o.get('Deployment/portal/grafana').spec.template.spec;
    expect(gf.initContainers[0].volumeMounts[0].mountPath).toBe('/var/lib/grafana/plugins');
    expect(gf.containers[0].env).toContainEqual({ name: 'GF_PLUGINS_PREINSTALL_DISABLED', value: 'true' });
    expect(gf.containers[0].env.find((e: Json) => e.name === 'GF_INSTALL_PLUGINS')).toBeUndefined();
  });

  it('gives every container probes, requests and limits that fit a 4 vCPU / 16 GB box', () => {
    let reqCpu = 0;
    let limMem = 0;
    for (const o of box.rendered.objects) {
      const pod = podOf(o);
      if (!pod) continue;
      for (const c of pod.containers) {
        expect(c.readinessProbe, `${id(o)} ${c.name} readiness`).toBeTruthy();
        expect(c.livenessProbe, `${id(o)} ${c.name} liveness`).toBeTruthy();
      }
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        expect(c.resources?.requests && c.resources?.limits, `${id(o)} ${c.name} resources`).toBeTruthy();
        if (pod.containers.includes(c)) {
          reqCpu += cpu(c.resources.requests.cpu);
          limMem += mem(c.resources.limits.memory);
        }
      }
    }
    // room left for k3s, Traefik, CoreDNS, the updater and the OS
    expect(reqCpu).toBeLessThanOrEqual(3);
    expect(limMem).toBeLessThanOrEqual(12 * 1024);
  });

  it('pins every image by digest from the one lock file', () => {
    const lock = YAML.parse(readFileSync(source.lockFile, 'utf8')).images;
    for (const o of box.rendered.objects) {
      const pod = podOf(o);
      for (const c of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) {
        // repository@digest: no tag (skopeo refuses tag+digest), the digest from the lock file
        expect(c.image).toMatch(/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+@sha256:[0-9a-f]{64}$/);
        expect(
          Object.values(lock).map((p: Json) => `${p.ref.replace(/:[^/:]+$/, '')}@${p.digest}`),
        ).toContain(c.image);
      }
    }
    expect(box.rendered.placeholders).toEqual(['grafana-plugins']);
    expect(JSON.parse(box.files['images.json']!).map((i: Json) => i.name)).toEqual(Object.keys(lock).sort());
  });

  it('denies by default and admits only the paths that belong', () => {
    const pols = box.rendered.objects.filter((o) => o.kind === 'NetworkPolicy') as Json[];
    const deny = pols.find((p) => p.metadata.name === 'default-deny');
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const ch = pols.find((p) => p.metadata.name === 'clickhouse');
    expect(
      ch.spec.ingress[0].from.map((f: Json) => f.podSelector.matchLabels['app.kubernetes.io/name']),
    ).toEqual(['otel-collector', 'grafana']);
    const pg = pols.find((p) => p.metadata.name === 'postgres');
    expect(pg.spec.ingress).toEqual([
      {
        from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'grafana' } } }],
        ports: [{ protocol: 'TCP', port: 5432 }],
      },
    ]);
    // no policy opens egress beyond DNS and the in-namespace databases
    for (const p of pols)
      for (const e of p.spec.egress ?? []) for (const to of e.to ?? []) expect(to.ipBlock).toBeUndefined();
  });

  it('routes through k3s Traefik and opens its host ports for OTLP; 443 stays with the updater', () => {
    const ing = box.rendered.objects.filter((o) => o.kind === 'Ingress') as Json[];
    expect(
      ing.map((i) => [
        i.metadata.name,
        i.metadata.annotations['traefik.ingress.kubernetes.io/router.entrypoints'],
      ]),
    ).toEqual([
      ['otlp-grpc', 'otlp-grpc'],
      ['otlp-http', 'otlp-http'],
      ['portal', 'websecure'],
    ]);
    const t = YAML.parse(box.files['traefik-config.yaml']!);
    expect(t.kind).toBe('HelmChartConfig');
    const v = YAML.parse(t.spec.valuesContent);
    expect(v.ports['otlp-grpc']).toMatchObject({ port: 4317, hostPort: 4317 });
    expect(v.ports.websecure.hostPort).toBe(8443);
    expect(JSON.stringify(v)).not.toContain('"hostPort":443');
  });

  it('declares the per-box secrets that first boot generates', () => {
    expect(JSON.parse(box.files['generated-secrets.json']!)).toEqual([
      {
        namespace: 'portal',
        name: 'portal-credentials',
        keys: ['postgres-password', 'clickhouse-password', 'grafana-admin-password'],
      },
    ]);
    expect(box.files['backend.yaml']).not.toMatch(/kind: Secret/);
  });
});

describe('the Helm chart from the same source', () => {
  function comparable(objs: Json[]) {
    return new Map(
      objs
        .filter((o) => o.kind !== 'HorizontalPodAutoscaler')
        .map((o) => {
          const c = structuredClone(o);
          if (c.kind === 'Deployment') delete c.spec.replicas;
          return [id(c), c];
        }),
    );
  }

  it('renders, with default values, exactly the box objects (minus HPAs and replicas), all valid', async () => {
    const objs = helmTemplate(chart);
    for (const o of objs) await R.validateObject(o as unknown as KubeObject);
    const fromChart = comparable(objs);
    const fromBox = comparable(box.rendered.objects);
    expect([...fromChart.keys()].sort()).toEqual([...fromBox.keys()].sort());
    for (const [k, v] of fromBox) expect(fromChart.get(k), k).toEqual(v);
    const hpas = objs.filter((o) => o.kind === 'HorizontalPodAutoscaler') as Json[];
    expect(
      hpas.map((h) => [h.spec.scaleTargetRef.name, h.spec.minReplicas, h.spec.maxReplicas]).sort(),
    ).toEqual([
      ['grafana', 2, 4],
      ['otel-collector', 2, 8],
    ]);
    // the HPA owns the replica count
    for (const d of objs.filter((o) => o.kind === 'Deployment') as Json[])
      expect(d.spec.replicas).toBeUndefined();
  });

  it('takes the cluster values: storage class, ingress class, mirrored images, no autoscaling', async () => {
    const objs = helmTemplate(chart, {
      storageClass: 'gp3',
      ingress: {
        className: 'nginx',
        controllerNamespace: 'ingress-nginx',
        controllerPodLabel: { key: 'app', value: 'nginx' },
      },
      images: { grafana: 'mirror.example/grafana:11.4.0@sha256:' + 'a'.repeat(64) },
      autoscaling: { enabled: false },
      replicas: { collector: 3 },
    }) as Json[];
    for (const o of objs) await R.validateObject(o);
    expect(objs.filter((o) => o.kind === 'HorizontalPodAutoscaler')).toEqual([]);
    const by = new Map(objs.map((o) => [id(o), o]));
    expect(by.get('Deployment/portal/otel-collector').spec.replicas).toBe(3);
    expect(by.get('StatefulSet/portal/postgres').spec.volumeClaimTemplates[0].spec.storageClassName).toBe(
      'gp3',
    );
    expect(by.get('Ingress/portal/portal').spec.ingressClassName).toBe('nginx');
    expect(by.get('Deployment/portal/grafana').spec.template.spec.containers[0].image).toContain(
      'mirror.example/',
    );
    expect(by.get('NetworkPolicy/portal/grafana').spec.ingress[0].from[0]).toEqual({
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
      podSelector: { matchLabels: { app: 'nginx' } },
    });
  });

  it('is plain YAML except for the value holes', () => {
    const exprs = new Set<string>();
    for (const [n, t] of Object.entries(chart))
      if (n.startsWith('templates/') && n.endsWith('.yaml'))
        for (const m of t.matchAll(/\{\{-? *(.*?) *-?\}\}/g))
          exprs.add(m[1]!.replace(/\.Values\.[\w.]+/g, 'V'));
    expect([...exprs].sort()).toEqual(['V', 'V | quote', 'end', 'if V', 'if not V']);
    expect(YAML.parse(chart['Chart.yaml']!)).toMatchObject({
      apiVersion: 'v2',
      name: 'observability-portal',
    });
  });

  it('the template renderer refuses what it does not know', () => {
    expect(() => renderTemplate('{{ include "x" . }}', {})).toThrow(/unsupported/);
    expect(() => renderTemplate('{{ .Values.nope }}', {})).toThrow(/not set/);
    expect(() => renderTemplate('{{- if .Values.a }}x', { a: true })).toThrow(/missing/);
  });
});

describe('a vendor source', () => {
  it('renders a folder that exports the interface; bad objects and unpinned images are refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drydock-src-'));
    try {
      writeFileSync(
        join(dir, 'images.lock.yaml'),
        `images:\n  web:\n    ref: docker.io/library/nginx:1.27\n    digest: sha256:${'b'.repeat(64)}\n`,
      );
      const mk = (objects: string) =>
        `export const backend = { name: 'shop', version: '2.0.0', description: 'x', lockFile: ${JSON.stringify(join(dir, 'images.lock.yaml'))}, objects: (ctx) => ${objects} };\n`;
      writeFileSync(
        join(dir, 'index.ts'),
        mk(
          `[{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'web', image: ctx.image('web') }] } } } }]`,
        ),
      );
      const src = await R.loadSource(dir);
      const r = await R.renderBox(src);
      expect((r.objects[0] as Json).spec.template.spec.containers[0].image).toBe(
        `docker.io/library/nginx@sha256:${'b'.repeat(64)}`,
      );

      writeFileSync(
        join(dir, 'bad.ts'),
        mk(
          `[{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { template: {} } }]`,
        ),
      );
      await expect(R.renderBox(await R.loadSource(join(dir, 'bad.ts')))).rejects.toMatchObject({
        code: 'SPEC_INVALID',
        message: expect.stringContaining('Deployment web'),
      });
      writeFileSync(
        join(dir, 'img.ts'),
        mk(
          `[{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: ctx.image('nope') }] } }]`,
        ),
      );
      await expect(R.renderBox(await R.loadSource(join(dir, 'img.ts')))).rejects.toMatchObject({
        message: expect.stringContaining('"nope" is not in the lock file'),
      });
      writeFileSync(
        join(dir, 'images.lock.yaml'),
        'images:\n  web:\n    ref: docker.io/library/nginx:1.27\n    digest: latest\n',
      );
      await expect(R.renderBox(src)).rejects.toMatchObject({
        code: 'SPEC_INVALID',
        message: expect.stringContaining('sha256'),
      });
      await expect(R.loadSource(join(dir, 'missing'))).rejects.toMatchObject({ code: 'SPEC_FILE_MISSING' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the release spec for the rendered backend', () => {
  it('is a valid release spec (updater/bundle/spec.ts, parsed by the bundle builder) pinning every image and snapshotting the volumes', async () => {
    const { parseSpec } = await import('../../updater/bundle/index.ts');
    const dir = mkdtempSync(join(tmpdir(), 'drydock-spec-'));
    try {
      await R.writeFiles(dir, box.files);
      const parsed = await parseSpec(join(dir, 'release.yaml'));
      const spec = parsed.spec as Json;
      expect(parsed.manifests.map((m) => m.name)).toEqual(['backend.yaml', 'traefik-config.yaml']);
      expect(spec.images.map((i: Json) => i.ref)).toEqual(box.rendered.images.map((i) => i.pinned));
      expect(spec.data.volumes).toEqual([
        { namespace: 'portal', claim: 'data-clickhouse-0' },
        { namespace: 'portal', claim: 'data-postgres-0' },
      ]);
      expect(spec.health.workloads).toHaveLength(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
