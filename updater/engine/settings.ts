// Validation of settings changes at the edge (the service passes the admin's JSON straight in).
import { type Static, Type as T } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import cron from 'node-cron';
import { DrydockError } from '../../core/index.ts';

const Day = T.Union(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => T.Literal(d)));
const Time = T.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' });

export const SettingsPatch = T.Object(
  {
    channelUrl: T.Optional(T.Union([T.String({ pattern: '^(https?|file)://', maxLength: 2048 }), T.Null()])),
    checkSchedule: T.Optional(T.String({ maxLength: 100 })),
    autoStage: T.Optional(T.Boolean()),
    autoApply: T.Optional(T.Boolean()),
    maintenanceWindow: T.Optional(
      T.Union([
        T.Null(),
        T.Object(
          { days: T.Array(Day, { minItems: 1 }), start: Time, end: Time },
          { additionalProperties: false },
        ),
      ]),
    ),
  },
  { additionalProperties: false },
);
export type SettingsPatch = Static<typeof SettingsPatch>;

export function validateSettings(patch: unknown): SettingsPatch {
  if (!Value.Check(SettingsPatch, patch)) {
    const first = Value.Errors(SettingsPatch, patch).First();
    throw new DrydockError('CONFIG_INVALID', `settings ${first?.path || '/'}: ${first?.message}`);
  }
  if (patch.checkSchedule !== undefined && !cron.validate(patch.checkSchedule))
    throw new DrydockError(
      'CONFIG_INVALID',
      `settings /checkSchedule: "${patch.checkSchedule}" is not a cron expression`,
    );
  if (patch.autoApply && patch.maintenanceWindow === null)
    throw new DrydockError('CONFIG_INVALID', 'settings: automatic apply needs a maintenance window');
  return patch;
}
