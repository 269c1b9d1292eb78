// Update operations: check, download, apply, cancel, rollback.
import type { Static } from '@sinclair/typebox';
import { Type as T } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Context } from './context.ts';
import {
  DownloadBody,
  Operation,
  ReleaseSummary,
  RollbackBody,
  RollbackPlanSchema,
  routeSchema,
  WaitQuery,
} from './schemas.ts';

type Wait = { Querystring: Static<typeof WaitQuery> };

export async function registerUpdateRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  const { box } = ctx.deps;
  const tags = ['update'];
  app.post(
    '/api/v1/update/check',
    {
      schema: routeSchema({
        summary: 'Ask the channel for releases now',
        tags,
        response: T.Array(ReleaseSummary),
      }),
    },
    async (req) => {
      const r = await box.check(ctx.actor(req));
      ctx.status.invalidate();
      return r;
    },
  );

  app.post<{ Body: Static<typeof DownloadBody> | undefined } & Wait>(
    '/api/v1/update/download',
    {
      schema: routeSchema({
        summary: 'Download and verify a release (newest installable without a version); ends in "staged"',
        tags,
        body: DownloadBody,
        querystring: WaitQuery,
        response: Operation,
      }),
    },
    async (req, reply) =>
      ctx.operation('download', reply, req.query.wait === true, () =>
        box.download(ctx.actor(req), req.body?.version),
      ),
  );

  app.post<Wait>(
    '/api/v1/update/apply',
    {
      schema: routeSchema({
        summary: 'Apply the staged release: snapshot, apply, health gate, commit or roll back',
        tags,
        querystring: WaitQuery,
        response: Operation,
      }),
    },
    async (req, reply) =>
      ctx.operation('apply', reply, req.query.wait === true, () => box.apply(ctx.actor(req))),
  );

  app.post(
    '/api/v1/update/cancel',
    {
      schema: routeSchema({
        summary: 'Drop a staged or downloading release (only before apply)',
        tags,
        response: T.Object({ ok: T.Boolean() }),
      }),
    },
    async (req) => {
      await box.cancel(ctx.actor(req));
      return { ok: true };
    },
  );

  app.get(
    '/api/v1/update/rollback',
    {
      schema: routeSchema({
        summary: 'What a rollback would do: the release it goes back to, and with the data what',
        tags,
        response: RollbackPlanSchema,
      }),
    },
    async () => box.rollbackPlan(),
  );

  app.post<{ Body: Static<typeof RollbackBody> | undefined } & Wait>(
    '/api/v1/update/rollback',
    {
      schema: routeSchema({
        summary: 'Go back to the retained previous release',
        tags,
        body: RollbackBody,
        querystring: WaitQuery,
        response: Operation,
      }),
    },
    async (req, reply) =>
      ctx.operation('rollback', reply, req.query.wait === true, () =>
        box.rollback(ctx.actor(req), req.body?.data ? { data: req.body.data } : {}),
      ),
  );
}
