// Status and the releases the channel offers.
import { Type as T } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Context } from './context.ts';
import { BoxStatus, ReleaseSummary, routeSchema } from './schemas.ts';

export async function registerStatusRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  const tags = ['update'];
  app.get(
    '/api/v1/status',
    {
      schema: routeSchema({
        summary: 'Running release, state, workloads, disk, k3s',
        tags,
        response: BoxStatus,
      }),
    },
    // the cached text as is: polled often, serialized once per change
    async (_req, reply) =>
      reply
        .type('application/json; charset=utf-8')
        .serializer((s) => s as string)
        .send(await ctx.status.json()),
  );

  app.get(
    '/api/v1/releases',
    {
      schema: routeSchema({
        summary: 'Releases available on the channel (from the last check), with notes',
        tags,
        response: T.Array(ReleaseSummary),
      }),
    },
    async () => (await ctx.status.get()).available,
  );
}
