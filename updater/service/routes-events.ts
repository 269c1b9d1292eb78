// Server-Sent Events of the box and the service.
import type { FastifyInstance } from 'fastify';
import type { Context } from './context.ts';
import { routeSchema } from './schemas.ts';

export async function registerEventRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  const tags = ['update'];
  app.get(
    '/api/v1/events',
    {
      schema: routeSchema({
        summary: 'Server-Sent Events: a "snapshot" first, then state, progress and log events',
        tags,
        produces: ['text/event-stream'],
      }),
    },
    async (req, reply) => {
      const session = ctx.session(req);
      const snapshot = await ctx.deps.box.status();
      const headers = reply.getHeaders() as Record<string, string | number | string[]>;
      reply.hijack();
      ctx.events.attach(reply.raw, headers, session.idHash, snapshot);
    },
  );
}
