// History of updates and rollbacks, and the audit log.
import type { Static } from '@sinclair/typebox';
import { Type as T } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Context } from './context.ts';
import { AuditEntry, HistoryEntry, LimitQuery, routeSchema } from './schemas.ts';

export async function registerHistoryRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  const { box } = ctx.deps;
  const tags = ['update'];
  app.get<{ Querystring: Static<typeof LimitQuery> }>(
    '/api/v1/history',
    {
      schema: routeSchema({
        summary: 'Updates and rollbacks, newest first',
        tags,
        querystring: LimitQuery,
        response: T.Array(HistoryEntry),
      }),
    },
    async (req) => box.history(req.query.limit ?? 100),
  );

  app.get<{ Querystring: Static<typeof LimitQuery> }>(
    '/api/v1/audit',
    {
      schema: routeSchema({
        summary: 'Who did what, newest first',
        tags: ['admin'],
        querystring: LimitQuery,
        response: T.Array(AuditEntry),
      }),
    },
    async (req) => box.audit(req.query.limit ?? 100),
  );
}
