// Update settings.
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import cron from 'node-cron';
import { DrydockError } from '../../core/index.ts';
import type { Context } from './context.ts';
import { windowProblem } from './policy.ts';
import { routeSchema, Settings, SettingsPatch } from './schemas.ts';

export async function registerSettingsRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  const { box } = ctx.deps;
  app.get(
    '/api/v1/settings',
    { schema: routeSchema({ summary: 'Update settings', tags: ['admin'], response: Settings }) },
    async () => box.getSettings(),
  );

  app.put<{ Body: Static<typeof SettingsPatch> }>(
    '/api/v1/settings',
    {
      schema: routeSchema({
        summary: 'Change update settings (any subset)',
        tags: ['admin'],
        body: SettingsPatch,
        response: Settings,
      }),
    },
    async (req) => {
      const patch = req.body;
      if (patch.checkSchedule !== undefined && !cron.validate(patch.checkSchedule))
        throw new DrydockError(
          'CONFIG_INVALID',
          `"${patch.checkSchedule}" is not a cron expression (e.g. "0 3 * * *")`,
        );
      if (patch.maintenanceWindow !== undefined) {
        const problem = windowProblem(patch.maintenanceWindow);
        if (problem) throw new DrydockError('CONFIG_INVALID', problem);
      }
      if (patch.channelUrl) {
        let url: URL;
        try {
          url = new URL(patch.channelUrl);
        } catch {
          throw new DrydockError('CONFIG_INVALID', `"${patch.channelUrl}" is not a URL`);
        }
        if (url.protocol !== 'https:' && url.protocol !== 'http:')
          throw new DrydockError('CONFIG_INVALID', 'the channel URL must start with https:// or http://');
        if (url.username || url.password)
          throw new DrydockError('CONFIG_INVALID', 'the channel URL must not carry a user name or password');
      }
      const merged = { ...(await box.getSettings()), ...patch };
      if (merged.autoApply && !merged.maintenanceWindow)
        throw new DrydockError('CONFIG_INVALID', 'automatic apply needs a maintenance window');
      const next = await box.putSettings(ctx.actor(req), patch);
      ctx.deps.onSettings?.(next);
      return next;
    },
  );
}
