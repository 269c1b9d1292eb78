// EC2 instance metadata through IMDSv2: a session token first (PUT), then user data and the
// instance identity with the token. Not being on EC2 is normal (vSphere, QEMU): any failure to get
// a token within the timeout means "no IMDS here" and the next source is tried.
import { Type as T } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import YAML from 'yaml';

const IMDS_URL = 'http://169.254.169.254';

export interface ImdsData {
  instanceId: string;
  region: string | null;
  /** raw user data, null when the instance has none */
  userData: string | null;
  /** the instance role's temporary credentials, asked for with the same IMDSv2 token */
  credentials(): Promise<ImdsCredentials | null>;
}

export interface ImdsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration?: Date;
}

const RoleCredentials = T.Object({
  Code: T.Literal('Success'),
  AccessKeyId: T.String({ minLength: 1 }),
  SecretAccessKey: T.String({ minLength: 1 }),
  Token: T.String({ minLength: 1 }),
  Expiration: T.Optional(T.String()),
});

async function call(
  fetchFn: typeof fetch,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<Response | null> {
  try {
    return await fetchFn(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch {
    return null;
  }
}

export async function readImds(opts: {
  fetch: typeof fetch;
  baseUrl?: string;
  timeoutMs?: number;
  /**
   * keep asking for a token this long while the network is not up yet (first boot does not wait
   * for network-online, so that a static address from OVF is not held up by a DHCP timeout)
   */
  waitMs?: number;
  sleep?: (ms: number) => Promise<void>;
}): Promise<ImdsData | null> {
  const base = (opts.baseUrl ?? IMDS_URL).replace(/\/$/, '');
  const timeout = opts.timeoutMs ?? 2000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const until = Date.now() + (opts.waitMs ?? 0);
  let tokenRes: Response | null;
  for (;;) {
    tokenRes = await call(
      opts.fetch,
      `${base}/latest/api/token`,
      { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '300' } },
      timeout,
    );
    // an HTTP answer (even an error) means the network is up: no point in asking again
    if (tokenRes || Date.now() >= until) break;
    await sleep(1000);
  }
  if (!tokenRes?.ok) return null;
  const token = (await tokenRes.text()).trim();
  const headers = { 'X-aws-ec2-metadata-token': token };
  const get = async (path: string): Promise<string | null> => {
    const r = await call(opts.fetch, `${base}/latest/${path}`, { headers }, timeout);
    if (!r || r.status === 404) return null;
    if (!r.ok) return null;
    return r.text();
  };
  const instanceId = (await get('meta-data/instance-id'))?.trim();
  if (!instanceId) return null;
  const region = (await get('meta-data/placement/region'))?.trim() || null;
  const userData = await get('user-data');
  const credentials = async (): Promise<ImdsCredentials | null> => {
    // the listing names the role of the instance profile (one role per profile)
    const role = (await get('meta-data/iam/security-credentials/'))?.split('\n')[0]?.trim();
    if (!role || !/^[\w+=,.@-]{1,64}$/.test(role)) return null;
    const text = await get(`meta-data/iam/security-credentials/${role}`);
    let doc: unknown;
    try {
      doc = text ? JSON.parse(text) : null;
    } catch {
      return null;
    }
    if (!Value.Check(RoleCredentials, doc)) return null;
    return {
      accessKeyId: doc.AccessKeyId,
      secretAccessKey: doc.SecretAccessKey,
      sessionToken: doc.Token,
      ...(doc.Expiration ? { expiration: new Date(doc.Expiration) } : {}),
    };
  };
  return { instanceId, region, userData, credentials };
}

const CloudFormation = T.Object(
  {
    stack: T.String({ minLength: 1, maxLength: 2048 }),
    resource: T.String({ pattern: '^[A-Za-z0-9]{1,255}$' }),
    region: T.Optional(T.String({ pattern: '^[a-z]{2}(-[a-z]+)+-\\d$' })),
  },
  { additionalProperties: false },
);
export interface CloudFormationTarget {
  stack: string;
  resource: string;
  region?: string;
}

/**
 * An SSM parameter name (`/drydock/admin`) or its ARN: where the first admin password is kept, as a
 * SecureString the instance role may read. The password itself never travels in user data, which
 * anyone with ec2:DescribeInstanceAttribute (or any process that reaches IMDS) can read.
 */
const SSM_PARAMETER_PATTERN =
  '^(/[a-zA-Z0-9_.\\-/]{1,1010}|arn:aws[a-z-]*:ssm:[a-z]{2}(-[a-z]+)+-\\d:\\d{12}:parameter/[a-zA-Z0-9_.\\-/]{1,1010})$';
const PasswordParameter = T.String({ pattern: SSM_PARAMETER_PATTERN });

export interface UserDataSettings {
  settings: Record<string, unknown>;
  cloudformation: CloudFormationTarget | null;
  /** `admin_password_parameter`: the SSM SecureString holding the first admin password */
  passwordParameter: string | null;
  /** a plain reason when the document or its cloudformation block is unusable */
  problem: string | null;
}

/**
 * User data (and the local settings file) are YAML: `drydock: { hostname, …, cloudformation: {…} }`.
 * A #cloud-config document with a drydock key works too; a shell script carries no settings.
 */
export function parseUserData(text: string | null): UserDataSettings {
  const none = { settings: {}, cloudformation: null, passwordParameter: null, problem: null };
  if (!text || text.startsWith('#!')) return none;
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    return { ...none, problem: `the user data is not YAML: ${(e as Error).message.split('\n')[0]}` };
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return none;
  const block = (doc as Record<string, unknown>).drydock;
  if (block === undefined) return none;
  if (!block || typeof block !== 'object' || Array.isArray(block))
    return { ...none, problem: 'the "drydock" entry of the user data must be a mapping' };
  const { cloudformation, admin_password_parameter: param, ...settings } = block as Record<string, unknown>;
  const problems: string[] = [];
  let passwordParameter: string | null = null;
  if (param !== undefined && param !== null && param !== '') {
    if (Value.Check(PasswordParameter, param)) passwordParameter = param;
    else
      problems.push(
        'drydock.admin_password_parameter: not an SSM parameter name (/path/name) or parameter ARN',
      );
  }
  let target: CloudFormationTarget | null = null;
  if (cloudformation !== undefined) {
    if (Value.Check(CloudFormation, cloudformation)) target = cloudformation as CloudFormationTarget;
    else {
      const e = Value.Errors(CloudFormation, cloudformation).First();
      problems.push(`drydock.cloudformation${e?.path ?? ''}: ${e?.message}`);
    }
  }
  return {
    settings,
    cloudformation: target,
    passwordParameter,
    problem: problems.length ? problems.join('; ') : null,
  };
}
