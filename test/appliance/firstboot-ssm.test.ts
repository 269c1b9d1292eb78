// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${…} are CloudFormation Fn::Sub placeholders
// AWS: the first admin password lives in an SSM SecureString; the user data carries only its name.
// First boot gets the instance role's credentials from IMDSv2 (the stand-in on 127.0.0.1), and the
// real SSM client asks the SSM stand-in, which checks SigV4 against those credentials and applies
// the IAM policy the CloudFormation template gives the role (resolved for the stack here).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { PATHS, runFirstboot } from '../../appliance/index.ts';
import { buildTemplate } from '../../cloudformation/index.ts';
import { consumeInitialAdmin, getUser, openServiceDatabase } from '../../updater/service/index.ts';
import { type FakeParameter, type PolicyStatement, startFakeSsm } from '../aws/fake-ssm.ts';
import { makeRoot, recordingExec, startImds } from './helpers.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const REGION = 'eu-west-1';
const ACCOUNT = '111122223333';
const INSTANCE = 'i-0123456789abcdef0';
const ROLE = {
  name: 'acme-Role-1ABCDEF',
  accessKeyId: 'ASIAFAKEFIRSTBOOT01',
  secretAccessKey: 'fake/secret/key/for/the/stand-in/only',
  sessionToken: 'IQoJb3JpZ2luX2VjEFAKE-session-token',
};

// biome-ignore lint/suspicious/noExplicitAny: templates are free-form JSON
type Any = any;

/** The role's statements as CloudFormation would create them for these parameter values. */
function rolePolicy(params: Record<string, string>): PolicyStatement[] {
  const t = buildTemplate() as Any;
  const env: Record<string, string> = {
    ...params,
    ChannelBucket: params.ChannelBucket ?? '',
    'AWS::Partition': 'aws',
    'AWS::Region': REGION,
    'AWS::AccountId': ACCOUNT,
    'AWS::StackId': `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/acme/1`,
  };
  const cond = (name: string): boolean => {
    const c = t.Conditions[name];
    const eq = c['Fn::Not']?.[0]?.['Fn::Equals'] ?? c['Fn::Equals'];
    const same = resolve(eq[0]) === resolve(eq[1]);
    return c['Fn::Not'] ? !same : same;
  };
  const resolve = (v: Any): Any => {
    if (Array.isArray(v)) return v.map(resolve).filter((x) => x !== undefined);
    if (!v || typeof v !== 'object') return v;
    if ('Ref' in v) return v.Ref === 'AWS::NoValue' ? undefined : env[v.Ref];
    if ('Fn::Sub' in v)
      return String(v['Fn::Sub']).replace(/\$\{([^}]+)\}/g, (_, k) => {
        if (!(k in env)) throw new Error(`unresolved \${${k}}`);
        return env[k]!;
      });
    if ('Fn::If' in v) return resolve(cond(v['Fn::If'][0]) ? v['Fn::If'][1] : v['Fn::If'][2]);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
  };
  return resolve(t.Resources.Role.Properties.Policies[0].PolicyDocument.Statement);
}

async function boot(opts: {
  userData: Record<string, unknown>;
  parameters: FakeParameter[];
  statements: PolicyStatement[];
  role?: typeof ROLE | undefined;
}) {
  const ssm = await startFakeSsm({
    region: REGION,
    account: ACCOUNT,
    parameters: opts.parameters,
    roles: [{ ...ROLE, statements: opts.statements }],
  });
  cleanups.push(ssm.close);
  const userData = YAML.stringify({
    drydock: { ...opts.userData, cloudformation: { stack: 'acme', resource: 'Instance', region: REGION } },
  });
  const imds = await startImds({
    userData,
    instanceId: INSTANCE,
    region: REGION,
    ...('role' in opts ? (opts.role ? { role: opts.role } : {}) : { role: ROLE }),
  });
  cleanups.push(imds.close);
  const b = makeRoot();
  cleanups.push(b.cleanup);
  const r = await runFirstboot({
    root: b.root,
    exec: recordingExec().exec,
    fetch,
    imdsUrl: imds.url,
    ssmEndpoint: ssm.url,
  });
  const admin = JSON.parse(readFileSync(join(b.root, PATHS.initialAdmin), 'utf8'));
  return { r, admin, ssm, imds, userData, root: b.root };
}

const PASSWORD = 'Harbour-Lights-2026!';
const secure = (name: string, value = PASSWORD, keyId?: string): FakeParameter => ({
  name,
  type: 'SecureString',
  value,
  ...(keyId ? { keyId } : {}),
});

describe('first boot on EC2 reads the admin password from SSM with the instance role', () => {
  it('decrypts the SecureString the template names, with only the rights the template grants', async () => {
    const name = '/acme/appliance/admin';
    const { r, admin, ssm, imds, userData, root } = await boot({
      userData: { admin_password_parameter: name },
      parameters: [secure(name), secure('/acme/other/secret', 'Another-Secret-99')],
      statements: rolePolicy({ AdminPasswordParameter: name }),
    });
    expect(r.problems).toEqual([]);
    expect(admin).toEqual({ password: PASSWORD, source: 'ec2-ssm-parameter', mustChange: true });
    expect(r.password).toBe('set');
    // the password never travelled in the user data, and never reached first boot's records
    expect(userData).not.toContain(PASSWORD);
    expect(JSON.stringify(r)).not.toContain(PASSWORD);
    // IMDSv2 with a token for the credentials too; one decrypted read
    expect(imds.requests).toContain('GET /latest/meta-data/iam/security-credentials/');
    expect(imds.requests).toContain(`GET /latest/meta-data/iam/security-credentials/${ROLE.name}`);
    expect(ssm.log).toEqual([`GetParameter ${name} ok decrypted=true`]);
    // the updater service takes the hand-off as it would at its start: must change at first sign-in
    const db = openServiceDatabase(root);
    try {
      expect(await consumeInitialAdmin(db, root)).toEqual({
        consumed: true,
        source: 'ec2-ssm-parameter',
        mustChange: true,
      });
      expect(getUser(db, 'admin')?.mustChange).toBe(true);
    } finally {
      db.close();
    }
  });

  it('the stand-in is faithful: the same role may not read another parameter, nor without a signature', async () => {
    const name = '/acme/appliance/admin';
    const ssm = await startFakeSsm({
      region: REGION,
      account: ACCOUNT,
      parameters: [secure(name), secure('/acme/other/secret')],
      roles: [{ ...ROLE, statements: rolePolicy({ AdminPasswordParameter: name }) }],
    });
    cleanups.push(ssm.close);
    const { GetParameterCommand, SSMClient } = await import('@aws-sdk/client-ssm');
    const client = (secret = ROLE.secretAccessKey, token = ROLE.sessionToken) =>
      new SSMClient({
        region: REGION,
        endpoint: ssm.url,
        maxAttempts: 1,
        credentials: { accessKeyId: ROLE.accessKeyId, secretAccessKey: secret, sessionToken: token },
      });
    const get = (c: InstanceType<typeof SSMClient>, Name: string, WithDecryption = true) =>
      c.send(new GetParameterCommand({ Name, WithDecryption })).then(
        (o) => o.Parameter?.Value,
        (e) => `${e.name}`,
      );
    expect(await get(client(), name)).toBe(PASSWORD);
    expect(await get(client(), '/acme/other/secret')).toBe('AccessDeniedException');
    expect(await get(client('wrong-secret'), name)).toBe('InvalidSignatureException');
    expect(await get(client(undefined, 'another-token'), name)).toBe('UnrecognizedClientException');
    // without WithDecryption a SecureString comes back as ciphertext, as SSM answers
    const blob = await get(client(), name, false);
    expect(blob).not.toBe(PASSWORD);
    expect(Buffer.from(String(blob), 'base64').length).toBeGreaterThan(PASSWORD.length);
    expect((await fetch(ssm.url, { method: 'POST' })).status).toBe(400);
  });

  it('a customer-managed KMS key works through the template’s kms:Decrypt, tied to the parameter', async () => {
    const name = '/acme/appliance/admin';
    const ok = await boot({
      userData: { admin_password_parameter: name },
      parameters: [secure(name, PASSWORD, '1234abcd-12ab-34cd-56ef-1234567890ab')],
      statements: rolePolicy({ AdminPasswordParameter: name }),
    });
    expect(ok.r.problems).toEqual([]);
    expect(ok.admin.password).toBe(PASSWORD);
    // without the template's kms statement the same key refuses
    const denied = await boot({
      userData: { admin_password_parameter: name },
      parameters: [secure(name, PASSWORD, '1234abcd-12ab-34cd-56ef-1234567890ab')],
      statements: rolePolicy({ AdminPasswordParameter: name }).filter((s) => s.Action !== 'kms:Decrypt'),
    });
    expect(denied.ssm.log).toEqual([`GetParameter ${name} kms AccessDenied`]);
    expect(denied.admin).toEqual({ password: INSTANCE, source: 'instance-id', mustChange: true });
  });

  it.each([
    [
      'the role may not read it',
      { name: '/acme/appliance/admin', params: [secure('/acme/appliance/admin')], grant: '/acme/other' },
      'the instance role may not read SSM parameter /acme/appliance/admin',
    ],
    [
      'the parameter does not exist',
      { name: '/acme/missing', params: [], grant: '/acme/missing' },
      'SSM parameter /acme/missing does not exist in eu-west-1',
    ],
    [
      'the parameter is a plain String',
      {
        name: '/acme/plain',
        params: [{ name: '/acme/plain', type: 'String', value: PASSWORD } as FakeParameter],
        grant: '/acme/plain',
      },
      'is a String, not a SecureString',
    ],
    [
      'the password in it is weak',
      { name: '/acme/weak', params: [secure('/acme/weak', 'aaaaaaaaaaaaaaaa')], grant: '/acme/weak' },
      'SSM parameter /acme/weak: the admin password needs at least two kinds of characters',
    ],
  ])('falls back to the instance ID (must change) when %s, and says why', async (_what, c, message) => {
    const { r, admin } = await boot({
      userData: { admin_password_parameter: c.name },
      parameters: c.params,
      statements: rolePolicy({ AdminPasswordParameter: c.grant }),
    });
    expect(admin).toEqual({ password: INSTANCE, source: 'instance-id', mustChange: true });
    expect(r.problems).toEqual([
      { key: 'admin_password', code: 'FIRSTBOOT_SETTING_INVALID', message: expect.stringContaining(message) },
    ]);
    expect(JSON.stringify(r)).not.toContain(PASSWORD);
    expect(r.password).toBe('instance-id');
  });

  it('no instance profile: the instance ID, and the reason', async () => {
    const { r, admin } = await boot({
      userData: { admin_password_parameter: '/acme/appliance/admin' },
      parameters: [secure('/acme/appliance/admin')],
      statements: [],
      role: undefined,
    });
    expect(admin.source).toBe('instance-id');
    expect(r.problems[0]?.message).toContain('no instance role credentials');
  });

  it('a later boot never hands a password over again (the admin may have changed it)', async () => {
    const name = '/acme/appliance/admin';
    const first = await boot({
      userData: { admin_password_parameter: name, hostname: 'bad_name!' },
      parameters: [secure(name)],
      statements: rolePolicy({ AdminPasswordParameter: name }),
    });
    expect(first.r.pending).toEqual(['hostname']);
    // the service consumed the hand-off
    const { rmSync } = await import('node:fs');
    rmSync(join(first.root, PATHS.initialAdmin));
    const again = await runFirstboot({
      root: first.root,
      exec: recordingExec().exec,
      fetch,
      imdsUrl: first.imds.url,
      ssmEndpoint: first.ssm.url,
    });
    expect(again.password).toBe('set');
    expect(first.ssm.log).toHaveLength(1);
    expect(() => readFileSync(join(first.root, PATHS.initialAdmin))).toThrow(/ENOENT/);
  });
});
