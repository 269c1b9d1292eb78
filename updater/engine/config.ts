// <root>/etc/drydock/config.yaml (docs/architecture.md, "The box root"): read, validated with
// TypeBox, written by box init.
import { existsSync, readFileSync } from 'node:fs';
import { type Static, Type as T } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import YAML from 'yaml';
import { DrydockError } from '../../core/index.ts';
import { CLUSTER_KINDS } from '../cluster/api.ts';

export const BoxConfig = T.Object(
  {
    name: T.Optional(T.String()),
    cluster: T.Union(
      CLUSTER_KINDS.map((k) => T.Literal(k)),
      { default: 'k3s' },
    ),
    /**
     * cluster kubernetes: `kubeconfig` is box-absolute (box init copies the given file to
     * /etc/drydock/kubeconfig, 0600); `kubectl` and `containerdSocket` are paths on this machine
     */
    kubernetes: T.Optional(
      T.Object({
        kubeconfig: T.String({ minLength: 1 }),
        kubectl: T.Optional(T.String({ minLength: 1 })),
        containerdSocket: T.Optional(T.Union([T.String({ minLength: 1 }), T.Null()])),
      }),
    ),
    /** box-absolute path of the trusted TUF root */
    trustedRoot: T.String({ default: '/etc/drydock/root.json' }),
    channelUrl: T.Optional(T.Union([T.String(), T.Null()])),
    channel: T.Optional(T.String()),
    checkSchedule: T.Optional(T.String()),
    maintenanceWindow: T.Optional(
      T.Union([T.Null(), T.Object({ days: T.Array(T.String()), start: T.String(), end: T.String() })]),
    ),
    autoStage: T.Optional(T.Boolean()),
    autoApply: T.Optional(T.Boolean()),
    /** releases kept on the box: running + N-1 previous (default 2) */
    keepReleases: T.Optional(T.Integer({ minimum: 2, maximum: 20 })),
    /** free space kept beyond what an update needs (default 64 MiB) */
    diskMarginBytes: T.Optional(T.Integer({ minimum: 0 })),
    /** how often the health gate polls, milliseconds (default 250: a poll is one kubectl call on a real cluster) */
    healthPollMs: T.Optional(T.Integer({ minimum: 10, maximum: 60_000 })),
  },
  { additionalProperties: true },
);
export type BoxConfig = Static<typeof BoxConfig>;

export function parseConfig(text: string, file: string): BoxConfig {
  let doc: unknown;
  try {
    doc = YAML.parse(text) ?? {};
  } catch (e) {
    throw new DrydockError('CONFIG_INVALID', `${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  const withDefaults = Value.Default(BoxConfig, structuredClone(doc));
  if (!Value.Check(BoxConfig, withDefaults)) {
    const first = Value.Errors(BoxConfig, withDefaults).First();
    throw new DrydockError('CONFIG_INVALID', `${file}: ${first?.path || '/'} ${first?.message}`);
  }
  if (withDefaults.cluster === 'kubernetes' && !withDefaults.kubernetes)
    throw new DrydockError('CONFIG_INVALID', `${file}: cluster kubernetes needs kubernetes.kubeconfig`);
  return withDefaults;
}

export function readConfig(file: string): BoxConfig | null {
  if (!existsSync(file)) return null;
  return parseConfig(readFileSync(file, 'utf8'), file);
}
