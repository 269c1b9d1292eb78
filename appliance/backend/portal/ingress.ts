// Routing through the cluster's Traefik with standard Ingress objects (so they validate against the
// Kubernetes schema): the portal on the websecure entry point, OTLP on entry points of their own.
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import type { BackendContext } from '../api.ts';
import { meta } from './common.ts';

function route(
  ctx: BackendContext,
  name: string,
  entrypoint: string,
  service: string,
  port: number,
  tls: boolean,
) {
  return new Ingress({
    metadata: {
      ...meta(name, 'ingress'),
      annotations: {
        'traefik.ingress.kubernetes.io/router.entrypoints': entrypoint,
        ...(tls ? { 'traefik.ingress.kubernetes.io/router.tls': 'true' } : {}),
      },
    },
    spec: {
      ingressClassName: ctx.ingressClass,
      rules: [
        {
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Prefix',
                backend: { service: { name: service, port: { number: port } } },
              },
            ],
          },
        },
      ],
    },
  });
}

export function ingresses(ctx: BackendContext) {
  return [
    route(ctx, 'portal', 'websecure', 'grafana', 3000, true),
    route(ctx, 'otlp-grpc', 'otlp-grpc', 'otel-collector-grpc', 4317, false),
    route(ctx, 'otlp-http', 'otlp-http', 'otel-collector-http', 4318, false),
  ];
}
