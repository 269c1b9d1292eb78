// Shared by the appliance tests: a box root in a temp folder, a faithful IMDSv2 on 127.0.0.1, and a
// tree snapshot that proves a second boot writes nothing.
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultExec, type Exec } from '../../appliance/index.ts';

export function makeRoot(): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'drydock-box-'));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export function snapshotTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      const st = lstatSync(p);
      const rel = p.slice(root.length);
      if (st.isSymbolicLink()) out.set(rel, `link:${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.set(rel, `dir:${st.mode.toString(8)}`);
        walk(p);
      } else
        out.set(
          rel,
          `file:${st.mode.toString(8)}:${st.mtimeMs}:${createHash('sha256').update(readFileSync(p)).digest('hex')}`,
        );
    }
  };
  walk(root);
  return out;
}

/** Real tools, except those that would touch this machine's disks: growpart/resize2fs are recorded. */
export function recordingExec(
  extra: Record<string, (args: string[]) => { stdout: string; code: number }> = {},
) {
  const calls: string[][] = [];
  const exec: Exec = async (cmd, args) => {
    calls.push([cmd, ...args]);
    if (extra[cmd]) return { stderr: '', ...extra[cmd]!(args) };
    if (cmd === 'growpart' || cmd === 'resize2fs') return { stdout: '', stderr: '', code: 0 };
    if (cmd === 'vmtoolsd') return { stdout: '', stderr: 'vmtoolsd: not installed', code: 127 };
    return defaultExec(cmd, args);
  };
  return { exec, calls };
}

/**
 * IMDSv2 as EC2 serves it: PUT /latest/api/token with a TTL header gives a token; every GET needs
 * that token (401 otherwise); user-data is 404 when the instance has none.
 */
export async function startImds(opts: {
  userData: string | null;
  instanceId: string;
  region: string;
  port?: number;
  /** the instance profile's role: served under meta-data/iam/security-credentials/ as EC2 does */
  role?: { name: string; accessKeyId: string; secretAccessKey: string; sessionToken: string };
}): Promise<{
  url: string;
  server: Server;
  requests: string[];
  close: () => Promise<void>;
}> {
  const tokens = new Set<string>();
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.url === '/latest/api/token') {
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (req.method !== 'PUT' || !(ttl >= 1 && ttl <= 21600)) {
        res.writeHead(req.method !== 'PUT' ? 405 : 400).end();
        return;
      }
      const t = randomBytes(24).toString('base64');
      tokens.add(t);
      res.writeHead(200, { 'content-type': 'text/plain' }).end(t);
      return;
    }
    const token = req.headers['x-aws-ec2-metadata-token'];
    if (typeof token !== 'string' || !tokens.has(token)) {
      res.writeHead(401).end();
      return;
    }
    const routes: Record<string, string | null> = {
      '/latest/meta-data/instance-id': opts.instanceId,
      '/latest/meta-data/placement/region': opts.region,
      '/latest/user-data': opts.userData,
      ...(opts.role
        ? {
            '/latest/meta-data/iam/security-credentials/': opts.role.name,
            [`/latest/meta-data/iam/security-credentials/${opts.role.name}`]: JSON.stringify({
              Code: 'Success',
              LastUpdated: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
              Type: 'AWS-HMAC',
              AccessKeyId: opts.role.accessKeyId,
              SecretAccessKey: opts.role.secretAccessKey,
              Token: opts.role.sessionToken,
              Expiration: new Date(Date.now() + 6 * 3600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
            }),
          }
        : {}),
    };
    const body = routes[req.url ?? ''];
    if (req.method !== 'GET' || body === undefined || body === null) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
  });
  await new Promise<void>((r) => server.listen(opts.port ?? 0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
