// The support bundle.

import type { FastifyInstance } from 'fastify';
import type { Context } from './context.ts';
import { routeSchema } from './schemas.ts';
import { supportBundle } from './support.ts';
import { readCertificateInfo } from './tls.ts';

export async function registerSupportRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  const { box } = ctx.deps;
  app.get(
    '/api/v1/support-bundle',
    {
      schema: routeSchema({
        summary: 'Logs, state, history and redacted config as .tar.gz',
        tags: ['admin'],
        produces: ['application/gzip'],
      }),
    },
    async (req, reply) => {
      const stream = await supportBundle({
        box,
        root: ctx.deps.root,
        logText: ctx.ring.text(),
        certificate: await readCertificateInfo(ctx.deps.tlsDir),
        exec: ctx.deps.exec,
        now: ctx.now,
      });
      const stamp = new Date(ctx.now()).toISOString().replace(/[:.]/g, '-');
      await ctx.audit(req, 'support-bundle', 'downloaded a support bundle', 'ok');
      reply
        .type('application/gzip')
        .header('content-disposition', `attachment; filename="drydock-support-${stamp}.tar.gz"`)
        .header('cache-control', 'no-store');
      return reply.send(stream);
    },
  );
}
