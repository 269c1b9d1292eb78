// AWS: the first admin password comes from an SSM SecureString parameter that the stack's instance
// role may read (that one parameter only), never from the user data. It is read once at first boot
// with the role's IMDSv2 credentials; SSM decrypts it with its KMS key on our behalf.
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { ImdsCredentials } from './ec2.ts';

export interface PasswordParameterRead {
  ok: boolean;
  /** set when ok */
  password?: string;
  /** a plain reason when not ok; never holds the value */
  reason?: string;
}

export interface ReadParameterOptions {
  name: string;
  region: string;
  credentials: ImdsCredentials;
  /** another SSM endpoint (tests: a stand-in on 127.0.0.1) */
  endpoint?: string;
  client?: Pick<SSMClient, 'send'>;
}

export async function readPasswordParameter(o: ReadParameterOptions): Promise<PasswordParameterRead> {
  const client =
    o.client ??
    new SSMClient({
      region: o.region,
      credentials: o.credentials,
      ...(o.endpoint ? { endpoint: o.endpoint } : {}),
      maxAttempts: 4,
      // a black-holed endpoint must not hold first boot for the SDK's default of no timeout
      requestHandler: { connectionTimeout: 5000, requestTimeout: 15000 },
    });
  try {
    const out = await client.send(new GetParameterCommand({ Name: o.name, WithDecryption: true }));
    const p = out.Parameter;
    if (!p || typeof p.Value !== 'string')
      return { ok: false, reason: `SSM returned no value for ${o.name}` };
    if (p.Type !== 'SecureString')
      return {
        ok: false,
        reason: `SSM parameter ${o.name} is a ${p.Type ?? 'parameter of unknown type'}, not a SecureString: a plain parameter is readable by anyone allowed to list parameters`,
      };
    return { ok: true, password: p.Value };
  } catch (e) {
    const name = (e as { name?: string }).name ?? 'Error';
    if (name === 'ParameterNotFound')
      return { ok: false, reason: `SSM parameter ${o.name} does not exist in ${o.region}` };
    if (name === 'AccessDeniedException')
      return {
        ok: false,
        reason: `the instance role may not read SSM parameter ${o.name} (ssm:GetParameter, and kms:Decrypt for its key)`,
      };
    return {
      ok: false,
      reason: `reading SSM parameter ${o.name} failed: ${name}: ${((e as Error).message ?? '').split('\n')[0]}`,
    };
  }
}
