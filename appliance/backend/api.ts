// The interface a backend source implements. Drydock renders any source that exports a
// BackendSource (as `backend` or `default`) into k3s manifests for the box and a Helm chart for an
// existing cluster; nothing else in Drydock names the components inside it.

/** One pinned image of images.lock.yaml. */
export interface ImagePin {
  /** repository and tag, e.g. docker.io/library/postgres:16.6-alpine */
  ref: string;
  /** sha256:<64 hex> of the image index or manifest */
  digest: string;
  /** true when the digest is a stand-in to replace before shipping (say so in the build output) */
  placeholder?: boolean;
  /** where the digest was taken from */
  source?: string;
}

/** What a source's objects() may ask for; values differ between the box and the chart. */
export interface BackendContext {
  /** the pinned reference "repository@sha256:…" of an image named in the lock file */
  image(name: string): string;
  /** PersistentVolumeClaim storage class (k3s: local-path, on the data disk) */
  storageClass: string;
  /** IngressClass of the ingress controller (k3s: traefik) */
  ingressClass: string;
  /** where the ingress controller's pods run, for NetworkPolicies that admit them */
  ingressController: { namespace: string; podLabel: { key: string; value: string } };
}

/** A Deployment the chart scales with a HorizontalPodAutoscaler (the box runs one replica). */
export interface Autoscale {
  namespace: string;
  deployment: string;
  /** values key, e.g. "collector" */
  key: string;
  minReplicas: number;
  maxReplicas: number;
  targetCPUUtilizationPercentage: number;
}

/** A Traefik entry point the box opens on the host (the chart leaves the controller to the cluster). */
export interface Entrypoint {
  name: string;
  port: number;
  protocol?: 'TCP' | 'UDP';
}

/** A Secret with random values generated once per box at first boot, never shipped in a bundle. */
export interface GeneratedSecret {
  namespace: string;
  name: string;
  keys: string[];
}

/** Any Kubernetes object: a kubernetes-models instance or plain data of the same shape. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string };
  spec?: unknown;
}

export interface BackendSource {
  /** chart name and label value, e.g. "observability-portal" */
  name: string;
  /** chart version / appVersion */
  version: string;
  description: string;
  /** absolute path of the image lock file */
  lockFile: string;
  /** kubernetes-models objects (or plain objects with apiVersion and kind) */
  objects(ctx: BackendContext): KubeObject[];
  autoscale?: Autoscale[];
  entrypoints?: Entrypoint[];
  generatedSecrets?: GeneratedSecret[];
  /** what "healthy" means, for the release spec (updater/bundle/spec.ts) */
  health?: {
    /** default 900: databases on a fresh volume take a while */
    deadlineSeconds?: number;
    workloads: { kind: string; namespace: string; name: string }[];
    probes?: { name: string; url: string; expectStatus?: number; expectBody?: string }[];
  };
}

export interface RenderedBackend {
  source: { name: string; version: string };
  /** plain JSON objects, each validated against the Kubernetes schema */
  objects: KubeObject[];
  images: (ImagePin & { name: string; pinned: string })[];
  placeholders: string[];
}
