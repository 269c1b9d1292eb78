// A stand-in for the part of SSM first boot uses, on 127.0.0.1, spoken to by the real SDK client over
// HTTP: the JSON 1.1 protocol (`X-Amz-Target: AmazonSSM.GetParameter`), SigV4 checked here with our
// own code against the credentials the IMDS stand-in handed out (session token included and
// signed), IAM as the instance role's policy document says (ssm:GetParameter on the parameter ARN;
// kms:Decrypt with its conditions for a customer-managed key; the AWS-managed aws/ssm key's policy
// lets any principal of the account decrypt through SSM), and SecureStrings stored encrypted:
// without WithDecryption the caller gets the ciphertext, as SSM does.
import { createCipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface FakeParameter {
  name: string;
  type: 'String' | 'StringList' | 'SecureString';
  value: string;
  /** SecureString only: 'alias/aws/ssm' (default) or a customer-managed key id */
  keyId?: string;
}

export interface PolicyStatement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string>>;
}

export interface FakeRole {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  statements: PolicyStatement[];
}

export interface FakeSsm {
  url: string;
  server: Server;
  /** one line per request: target, name, outcome (never a value) */
  log: string[];
  close(): Promise<void>;
}

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const hmac = (k: string | Buffer, s: string) => createHmac('sha256', k).update(s).digest();
const glob = (pattern: string, value: string) =>
  new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(value);
const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);

function allowed(
  role: FakeRole,
  action: string,
  resource: string,
  context: Record<string, string> = {},
): boolean {
  const matches = (s: PolicyStatement) =>
    list(s.Action).some((a) => glob(a, action)) &&
    list(s.Resource).some((r) => glob(r, resource)) &&
    Object.entries(s.Condition ?? {}).every(([op, kv]) =>
      Object.entries(kv).every(([k, v]) =>
        op === 'StringEquals' ? context[k] === v : op === 'StringLike' ? glob(v, context[k] ?? '') : false,
      ),
    );
  if (role.statements.some((s) => s.Effect === 'Deny' && matches(s))) return false;
  return role.statements.some((s) => s.Effect === 'Allow' && matches(s));
}

class Refusal extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** SigV4 as AWS checks it; returns the role whose credentials signed the request. */
function verifySigV4(
  req: IncomingMessage,
  body: Buffer,
  roles: FakeRole[],
  region: string,
  now: Date,
): FakeRole {
  const auth = String(req.headers.authorization ?? '');
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!m) throw new Refusal('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const [, keyId, date, scopeRegion, service, signedHeaders, signature] = m as unknown as string[];
  const role = roles.find((r) => r.accessKeyId === keyId);
  if (!role)
    throw new Refusal(
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    );
  if (scopeRegion !== region || service !== 'ssm')
    throw new Refusal(
      'InvalidSignatureException',
      `Credential should be scoped to a valid region (${region}) and service ssm.`,
    );
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const signedAt = Date.parse(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
  );
  if (!amzDate.startsWith(date!) || !(Math.abs(now.getTime() - signedAt) < 5 * 60_000))
    throw new Refusal('InvalidSignatureException', 'Signature expired or X-Amz-Date is not the scope date.');
  const names = signedHeaders!.split(';');
  for (const must of ['host', 'x-amz-date', 'x-amz-security-token', 'x-amz-target'])
    if (!names.includes(must)) throw new Refusal('InvalidSignatureException', `${must} must be signed`);
  if (req.headers['x-amz-security-token'] !== role.sessionToken)
    throw new Refusal(
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    );
  const canonical = [
    req.method,
    new URL(req.url ?? '/', 'http://x').pathname,
    '',
    ...names.map((n) => {
      const v = req.headers[n];
      return `${n}:${(Array.isArray(v) ? v.join(',') : String(v ?? '')).trim().replace(/\s+/g, ' ')}\n`;
    }),
    signedHeaders,
    sha256(body),
  ];
  // the header lines already end with \n, and the canonical request puts one more after them
  const canonicalRequest = `${canonical.slice(0, 3).join('\n')}\n${canonical.slice(3, -2).join('')}\n${canonical.slice(-2).join('\n')}`;
  const scope = `${date}/${region}/ssm/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256(canonicalRequest)}`;
  const key = hmac(hmac(hmac(hmac(`AWS4${role.secretAccessKey}`, date!), region), 'ssm'), 'aws4_request');
  const want = hmac(key, toSign);
  if (!timingSafeEqual(want, Buffer.from(signature!, 'hex')))
    throw new Refusal(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided.',
    );
  return role;
}

export async function startFakeSsm(opts: {
  region: string;
  account: string;
  parameters: FakeParameter[];
  roles: FakeRole[];
  partition?: string;
}): Promise<FakeSsm> {
  const partition = opts.partition ?? 'aws';
  const log: string[] = [];
  const kmsKey = randomBytes(32);
  // SecureStrings are kept encrypted; the plain value exists only in the answer to WithDecryption
  const stored = opts.parameters.map((p) => {
    if (p.type !== 'SecureString') return { ...p, blob: null as string | null };
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', kmsKey, iv);
    const enc = Buffer.concat([iv, c.update(p.value, 'utf8'), c.final(), c.getAuthTag()]);
    return { ...p, blob: enc.toString('base64') };
  });
  const arnOf = (name: string) =>
    `arn:${partition}:ssm:${opts.region}:${opts.account}:parameter${name.startsWith('/') ? '' : '/'}${name}`;

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const target = String(req.headers['x-amz-target'] ?? '');
    let logged = false;
    const note = (line: string) => {
      log.push(line);
      logged = true;
    };
    const reply = (status: number, doc: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(doc));
    };
    try {
      if (
        req.method !== 'POST' ||
        !String(req.headers['content-type']).startsWith('application/x-amz-json-1.1')
      )
        throw new Refusal('SerializationException', 'expected POST with application/x-amz-json-1.1');
      const role = verifySigV4(req, body, opts.roles, opts.region, new Date());
      if (target !== 'AmazonSSM.GetParameter')
        throw new Refusal('UnknownOperationException', `${target} is not served by this stand-in`);
      const input = JSON.parse(body.toString('utf8')) as { Name?: unknown; WithDecryption?: unknown };
      if (typeof input.Name !== 'string' || input.Name.length === 0)
        throw new Refusal('ValidationException', 'Name is required');
      const name = input.Name.startsWith('arn:')
        ? input.Name.replace(/^arn:[^:]+:ssm:[^:]+:\d+:parameter/, '')
        : input.Name;
      const arn = arnOf(name);
      if (!allowed(role, 'ssm:GetParameter', arn)) {
        note(`GetParameter ${name} AccessDenied`);
        throw new Refusal(
          'AccessDeniedException',
          `User: ${role.accessKeyId} is not authorized to perform: ssm:GetParameter on resource: ${arn} because no identity-based policy allows the ssm:GetParameter action`,
        );
      }
      const p = stored.find((s) => s.name === name);
      if (!p) {
        note(`GetParameter ${name} ParameterNotFound`);
        throw new Refusal('ParameterNotFound', '');
      }
      let value = p.blob ?? p.value;
      if (p.type === 'SecureString' && input.WithDecryption === true) {
        const keyId = p.keyId ?? 'alias/aws/ssm';
        const keyArn = `arn:${partition}:kms:${opts.region}:${opts.account}:key/${keyId}`;
        const managed = keyId === 'alias/aws/ssm';
        const context = {
          'kms:ViaService': `ssm.${opts.region}.amazonaws.com`,
          'kms:EncryptionContext:PARAMETER_ARN': arn,
        };
        if (!managed && !allowed(role, 'kms:Decrypt', keyArn, context)) {
          note(`GetParameter ${name} kms AccessDenied`);
          throw new Refusal(
            'AccessDeniedException',
            `User: ${role.accessKeyId} is not authorized to perform: kms:Decrypt on resource: ${keyArn}`,
          );
        }
        value = p.value;
      }
      note(`GetParameter ${name} ok decrypted=${input.WithDecryption === true && p.type === 'SecureString'}`);
      reply(200, {
        Parameter: {
          ARN: arn,
          DataType: 'text',
          LastModifiedDate: 1764547200,
          Name: name,
          Type: p.type,
          Value: value,
          Version: 1,
        },
      });
    } catch (e) {
      const r = e instanceof Refusal ? e : new Refusal('InternalServerError', (e as Error).message);
      if (!logged) note(`${target || '(no target)'} ${r.type}`);
      reply(r.type === 'InternalServerError' ? 500 : 400, { __type: r.type, message: r.message });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    log,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
