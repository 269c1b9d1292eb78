// Prometheus metrics.

import type { FastifyInstance } from 'fastify';
import type { Context } from './context.ts';
import { renderMetrics } from './metrics.ts';

export async function registerMetricsRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  const { box } = ctx.deps;
  app.get('/metrics', { config: { auth: 'metrics' }, schema: { hide: true } }, async (_req, reply) => {
    const status = await ctx.status.get();
    const history = await box.history(50);
    reply.type('text/plain; version=0.0.4; charset=utf-8');
    return renderMetrics(status, history, {
      sseClients: ctx.events.size,
      loopDelayP99Ms: ctx.loopDelay.percentile(99) / 1e6,
      loopDelayMaxMs: ctx.loopDelay.max / 1e6,
      rssBytes: process.memoryUsage.rss(),
    });
  });
}
