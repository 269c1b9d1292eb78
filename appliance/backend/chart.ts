// The Helm chart for an existing multi-node cluster, from the same source. Helm rather than a
// kustomize base: customers who outgrow the box already run Helm, values give them the knobs they
// need (storage class, ingress class, images mirrored to their registry, autoscaling), and the
// templates stay plain YAML: only those knobs become {{ .Values.x }} expressions, so the chart and
// the box manifests are the same objects by construction and a test proves it.
import YAML from 'yaml';
import type { Autoscale, BackendContext, BackendSource, KubeObject } from './api.ts';
import { pinned, readLock } from './lock.ts';
import { BOX_CONTEXT, finishObjects, imageResolver, objectId } from './render.ts';
import { validateObject } from './validate.ts';

function camel(s: string): string {
  return s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Placeholders that survive YAML serialisation and become template expressions afterwards. */
class Holes {
  private readonly map = new Map<string, string>();
  hole(expr: string): string {
    const id = `__DRYDOCK_HOLE_${this.map.size}__`;
    this.map.set(id, expr);
    return id;
  }
  fill(text: string): string {
    return text.replace(/__DRYDOCK_HOLE_\d+__/g, (id) => this.map.get(id)!);
  }
}

function templateFile(obj: KubeObject, holes: Holes, guard?: string): string {
  let text = YAML.stringify(obj, { lineWidth: 0 });
  // replicas of an autoscaled Deployment: the HPA owns them when autoscaling is on
  text = text.replace(/^(\s*)replicas: __DRYDOCK_REPLICAS_(\w+)__$/m, (_, ind: string, key: string) =>
    [
      `{{- if not .Values.autoscaling.enabled }}`,
      `${ind}replicas: {{ .Values.replicas.${key} }}`,
      '{{- end }}',
    ].join('\n'),
  );
  text = holes.fill(text);
  return guard ? `{{- if ${guard} }}\n${text}{{- end }}\n` : text;
}

function hpa(a: Autoscale) {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: a.deployment, namespace: a.namespace },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: a.deployment },
      minReplicas: a.minReplicas,
      maxReplicas: a.maxReplicas,
      metrics: [
        {
          type: 'Resource',
          resource: {
            name: 'cpu',
            target: { type: 'Utilization', averageUtilization: a.targetCPUUtilizationPercentage },
          },
        },
      ],
    },
  };
}

export async function renderChartFiles(source: BackendSource): Promise<Record<string, string>> {
  const lock = await readLock(source.lockFile);
  const holes = new Holes();
  const used = new Set<string>();
  const resolve = imageResolver(lock, used);
  const ctx: BackendContext = {
    image: (name) => {
      resolve(name);
      return holes.hole(`{{ .Values.images.${camel(name)} | quote }}`);
    },
    storageClass: holes.hole('{{ .Values.storageClass | quote }}'),
    ingressClass: holes.hole('{{ .Values.ingress.className | quote }}'),
    ingressController: {
      namespace: holes.hole('{{ .Values.ingress.controllerNamespace | quote }}'),
      podLabel: {
        key: holes.hole('{{ .Values.ingress.controllerPodLabel.key }}'),
        value: holes.hole('{{ .Values.ingress.controllerPodLabel.value | quote }}'),
      },
    },
  };
  const objects = await finishObjects(source.objects(ctx));
  const scaled = new Map(
    (source.autoscale ?? []).map((a) => [`Deployment/${a.namespace}/${a.deployment}`, a]),
  );
  const files: Record<string, string> = {};
  for (const o of objects) {
    const a = scaled.get(objectId(o));
    if (a) (o.spec as Record<string, unknown>).replicas = `__DRYDOCK_REPLICAS_${camel(a.key)}__`;
    const ns = o.metadata?.namespace ? `${o.metadata.namespace}-` : '';
    const guard = o.kind === 'Namespace' ? '.Values.createNamespace' : undefined;
    files[`templates/${ns}${o.kind.toLowerCase()}-${o.metadata!.name}.yaml`] = templateFile(o, holes, guard);
  }
  for (const a of source.autoscale ?? []) {
    const h = hpa(a);
    await validateObject(h); // with the default numbers, before they become expressions
    const k = camel(a.key);
    h.spec.minReplicas = holes.hole(`{{ .Values.autoscaling.${k}.minReplicas }}`) as never;
    h.spec.maxReplicas = holes.hole(`{{ .Values.autoscaling.${k}.maxReplicas }}`) as never;
    h.spec.metrics[0]!.resource.target.averageUtilization = holes.hole(
      `{{ .Values.autoscaling.${k}.targetCPUUtilizationPercentage }}`,
    ) as never;
    files[`templates/${a.namespace}-hpa-${a.deployment}.yaml`] = templateFile(
      h,
      holes,
      '.Values.autoscaling.enabled',
    );
  }
  const values = {
    createNamespace: true,
    storageClass: BOX_CONTEXT.storageClass,
    ingress: {
      className: BOX_CONTEXT.ingressClass,
      controllerNamespace: BOX_CONTEXT.ingressController.namespace,
      controllerPodLabel: { ...BOX_CONTEXT.ingressController.podLabel },
    },
    images: Object.fromEntries([...used].sort().map((n) => [camel(n), pinned(lock[n]!)])),
    autoscaling: {
      enabled: true,
      ...Object.fromEntries(
        (source.autoscale ?? []).map((a) => [
          camel(a.key),
          {
            minReplicas: a.minReplicas,
            maxReplicas: a.maxReplicas,
            targetCPUUtilizationPercentage: a.targetCPUUtilizationPercentage,
          },
        ]),
      ),
    },
    replicas: Object.fromEntries((source.autoscale ?? []).map((a) => [camel(a.key), a.minReplicas])),
  };
  files['Chart.yaml'] = YAML.stringify({
    apiVersion: 'v2',
    name: source.name,
    description: source.description,
    type: 'application',
    version: source.version,
    appVersion: source.version,
    kubeVersion: '>=1.27.0-0',
  });
  files['values.yaml'] =
    `# Defaults reproduce the appliance; change storageClass, ingress and images for your cluster.\n${YAML.stringify(values)}`;
  const secrets = (source.generatedSecrets ?? [])
    .map(
      (s) =>
        `  kubectl -n ${s.namespace} create secret generic ${s.name} ${s.keys.map((k) => `--from-literal=${k}="$(openssl rand -hex 24)"`).join(' ')}`,
    )
    .join('\n');
  files['templates/NOTES.txt'] =
    `${source.name} ${source.version} is installed.${secrets ? `\nIt needs these secrets (the appliance generates them at first boot; create them once here):\n${secrets}\n` : '\n'}`;
  files['README.md'] =
    `# ${source.name}\n\n${source.description}.\n\nRendered by \`drydock backend render --chart\` from the same source as the appliance's k3s manifests.\n\n\`\`\`sh\n${secrets ? `${secrets.replace(/^ {2}/gm, '')}\n` : ''}helm install ${source.name} . --namespace ${(source.generatedSecrets ?? [])[0]?.namespace ?? 'default'} \\\n  --set storageClass=<your storage class> --set ingress.className=<your ingress class>\n\`\`\`\n\nHorizontalPodAutoscalers (autoscaling.enabled, on by default) need metrics-server. Stateful\nworkloads stay at one replica: scaling the databases is a job for their operators.\n`;
  return files;
}
