// TypeBox schemas of the API: request bodies and queries are validated with them at the edge;
// responses mirror updater/engine/api.ts and feed the OpenAPI document.
import { Type as T, type TSchema } from '@sinclair/typebox';

const ErrorBody = T.Object(
  { error: T.Object({ code: T.String(), message: T.String() }) },
  { $id: 'Error', description: 'Every error: a stable code (core/errors.ts) and a plain sentence' },
);

export const LoginBody = T.Object(
  {
    username: T.String({ minLength: 1, maxLength: 64 }),
    password: T.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const PasswordBody = T.Object(
  {
    currentPassword: T.String({ minLength: 1, maxLength: 1024 }),
    newPassword: T.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const SessionInfo = T.Object({
  user: T.Object({ username: T.String(), mustChange: T.Boolean() }),
  username: T.String(),
  mustChange: T.Boolean(),
  csrfToken: T.String({ description: 'send it back in the X-CSRF-Token header of every mutation' }),
  idleExpiresAt: T.String({ format: 'date-time' }),
  absoluteExpiresAt: T.String({ format: 'date-time' }),
  notices: T.Array(T.String(), {
    description: 'what the admin must know about the box (e.g. its database was restored from a copy)',
  }),
});

const Target = T.Union([T.Object({ name: T.String(), version: T.String() }), T.Null()]);
const Step = T.String({
  description: 'download | upload | verify | stage | snapshot | import | apply | health | restore',
});

export const ReleaseSummary = T.Object({
  name: T.String(),
  version: T.String(),
  channel: T.String(),
  upgradeFrom: T.String(),
  notes: T.String(),
  downloadBytes: T.Number(),
  totalBytes: T.Number(),
  deadlineSeconds: T.Number(),
  changesData: T.Boolean(),
  k3sVersion: T.Optional(T.String()),
  createdAt: T.Optional(T.String()),
  waves: T.Optional(T.Array(T.Object({ fraction: T.Number(), afterHours: T.Number() }))),
  installable: T.Boolean(),
  reason: T.Optional(T.String()),
});

export const HistoryEntry = T.Object({
  id: T.Number(),
  fromVersion: T.Union([T.String(), T.Null()]),
  toVersion: T.String(),
  kind: T.Union([T.Literal('install'), T.Literal('update'), T.Literal('rollback')]),
  outcome: T.String({ description: 'committed | rolled-back | failed | cancelled | in-progress' }),
  reason: T.Union([T.String(), T.Null()]),
  automatic: T.Boolean(),
  startedAt: T.String(),
  finishedAt: T.Union([T.String(), T.Null()]),
  actor: T.String(),
  steps: T.Record(T.String(), T.Number()),
});

export const AuditEntry = T.Object({
  id: T.Number(),
  at: T.String(),
  user: T.String(),
  from: T.String(),
  action: T.String(),
  detail: T.String(),
  result: T.Union([T.Literal('ok'), T.Literal('error')]),
});

const Window = T.Object(
  {
    days: T.Array(T.Union(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'].map((d) => T.Literal(d))), {
      minItems: 1,
      maxItems: 7,
    }),
    start: T.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' }),
    end: T.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' }),
  },
  { additionalProperties: false },
);

export const Settings = T.Object({
  channelUrl: T.Union([T.String(), T.Null()]),
  checkSchedule: T.String(),
  autoStage: T.Boolean(),
  autoApply: T.Boolean(),
  maintenanceWindow: T.Union([Window, T.Null()]),
});

export const SettingsPatch = T.Object(
  {
    channelUrl: T.Optional(T.Union([T.String({ maxLength: 2048 }), T.Null()])),
    checkSchedule: T.Optional(T.String({ minLength: 9, maxLength: 120 })),
    autoStage: T.Optional(T.Boolean()),
    autoApply: T.Optional(T.Boolean()),
    maintenanceWindow: T.Optional(T.Union([Window, T.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const BoxStatus = T.Object({
  running: T.Union([
    T.Object({
      name: T.String(),
      version: T.String(),
      k3sVersion: T.Union([T.String(), T.Null()]),
      installedAt: T.String(),
    }),
    T.Null(),
  ]),
  previous: T.Union([T.Object({ name: T.String(), version: T.String() }), T.Null()]),
  state: T.String(),
  target: Target,
  progress: T.Union([
    T.Object({ step: Step, done: T.Number(), total: T.Union([T.Number(), T.Null()]) }),
    T.Null(),
  ]),
  lastError: T.Union([T.Object({ code: T.String(), message: T.String() }), T.Null()]),
  workloads: T.Array(
    T.Object({
      kind: T.String(),
      namespace: T.String(),
      name: T.String(),
      ready: T.Boolean(),
      message: T.String(),
    }),
  ),
  disk: T.Object({ path: T.String(), totalBytes: T.Number(), freeBytes: T.Number() }),
  lastCheck: T.Union([
    T.Object({ at: T.String(), result: T.Union([T.Literal('ok'), T.Literal('error')]), message: T.String() }),
    T.Null(),
  ]),
  available: T.Array(ReleaseSummary),
  history: T.Array(HistoryEntry),
});

export const DownloadBody = T.Object(
  { version: T.Optional(T.String({ minLength: 1, maxLength: 128 })) },
  { additionalProperties: false },
);

export const RollbackBody = T.Object(
  {
    data: T.Optional(
      T.Union([T.Literal('restore'), T.Literal('keep')], {
        description:
          'restore the data snapshot or keep the current data (default: what the release declares)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const RollbackPlanSchema = T.Union([
  T.Null(),
  T.Object({
    from: T.String(),
    to: T.String(),
    data: T.Object({
      default: T.Union([T.Literal('restore'), T.Literal('keep')]),
      snapshot: T.Union([T.Null(), T.Object({ id: T.String(), takenAt: T.String() })]),
      words: T.Object({ restore: T.String(), keep: T.String() }),
    }),
  }),
]);

export const WaitQuery = T.Object(
  { wait: T.Optional(T.Boolean({ description: 'answer only when the operation ended' })) },
  { additionalProperties: false },
);

export const Operation = T.Object({
  operation: T.String(),
  running: T.Boolean({ description: 'true: still running, follow GET /api/v1/events' }),
  result: T.Optional(T.Unknown()),
});

export const LimitQuery = T.Object(
  { limit: T.Optional(T.Integer({ minimum: 1, maximum: 1000, default: 100 })) },
  { additionalProperties: false },
);

export const TlsBody = T.Object(
  {
    certificate: T.String({ minLength: 1, maxLength: 200_000 }),
    key: T.String({ minLength: 1, maxLength: 100_000 }),
  },
  { additionalProperties: false },
);

export const CertificateInfo = T.Object({
  subject: T.String(),
  issuer: T.String(),
  names: T.Array(T.String()),
  ips: T.Array(T.String()),
  notBefore: T.String(),
  notAfter: T.String(),
  fingerprint256: T.String(),
  selfSigned: T.Boolean(),
});

export const Ok = T.Object({ ok: T.Boolean() });

/** Route schema with the common error answers documented. */
export function routeSchema(s: {
  summary: string;
  tags: string[];
  body?: TSchema;
  querystring?: TSchema;
  response?: TSchema;
  status?: number;
  consumes?: string[];
  produces?: string[];
}): Record<string, unknown> {
  return {
    summary: s.summary,
    tags: s.tags,
    ...(s.body ? { body: s.body } : {}),
    ...(s.querystring ? { querystring: s.querystring } : {}),
    ...(s.consumes ? { consumes: s.consumes } : {}),
    ...(s.produces ? { produces: s.produces } : {}),
    response: {
      ...(s.response ? { [s.status ?? 200]: s.response } : {}),
      '4xx': ErrorBody,
      '5xx': ErrorBody,
    },
  };
}
