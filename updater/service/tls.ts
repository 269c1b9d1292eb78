// The service's TLS certificate: self-signed at first start (the key made by node:crypto, the
// certificate by openssl through an injected exec, so SAN and extensions are standard), and
// replaceable by the admin with a certificate + key pair that is checked before it is swapped in.
import { createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DrydockError, type Exec, exec, mustSucceed } from '../../core/index.ts';

/** openssl, run by core's exec in its must-succeed form (TOOL_MISSING, TOOL_FAILED) */
export const defaultExec: Exec = mustSucceed(exec);

export interface CertificateFiles {
  certPath: string;
  keyPath: string;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  names: string[];
  ips: string[];
  notBefore: string;
  notAfter: string;
  fingerprint256: string;
  selfSigned: boolean;
}

export function certificatePaths(dir: string): CertificateFiles {
  return { certPath: join(dir, 'cert.pem'), keyPath: join(dir, 'key.pem') };
}

const DNS_NAME =
  /^(?=.{1,253}$)(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A self-signed certificate lives this long; browsers and scanners flag longer ones. */
const SELF_SIGNED_DAYS = 730;
/** and is made again this long before it ends (the service checks daily) */
const RENEW_BEFORE_MS = 30 * 86_400_000;

/**
 * Makes `<dir>/cert.pem` and `<dir>/key.pem` unless a valid pair is there already. A pair this
 * function made earlier (self-signed) that lacks one of the requested names or addresses, ends
 * within RENEW_BEFORE_MS, or was made for longer than two years (older releases made ten) is made
 * again, so first boot can add the final hostname; a certificate the admin uploaded is never replaced.
 */
export async function ensureCertificate(opts: {
  dir: string;
  names: string[];
  ips: string[];
  exec?: Exec;
  days?: number;
  now?: () => number;
}): Promise<CertificateFiles & { created: boolean; info: CertificateInfo }> {
  const now = (opts.now ?? Date.now)();
  const names = [...new Set(opts.names.map((n) => n.trim()).filter(Boolean))];
  const ips = [...new Set(opts.ips.map((n) => n.trim()).filter(Boolean))];
  for (const n of names)
    if (!DNS_NAME.test(n)) throw new DrydockError('TLS_INVALID', `"${n}" is not a valid DNS name`);
  for (const ip of ips) if (!isIP(ip)) throw new DrydockError('TLS_INVALID', `"${ip}" is not an IP address`);
  if (names.length === 0 && ips.length === 0) names.push('localhost');
  const paths = certificatePaths(opts.dir);
  const existing = await readPair(paths);
  if (existing) {
    try {
      const info = validateCertificatePair(existing.cert, existing.key, { allowExpired: true });
      const covers =
        names.every((n) => info.names.includes(n.toLowerCase())) && ips.every((ip) => info.ips.includes(ip));
      const ending = Date.parse(info.notAfter) - now < RENEW_BEFORE_MS;
      const tooLong =
        Date.parse(info.notAfter) - Date.parse(info.notBefore) > (SELF_SIGNED_DAYS + 1) * 86_400_000;
      if (!info.selfSigned || (covers && !ending && !tooLong)) return { ...paths, created: false, info };
    } catch {
      // unreadable or mismatched pair: make a fresh one below
    }
  }
  const { cert, key } = await makeSelfSigned({
    names,
    ips,
    exec: opts.exec ?? defaultExec,
    days: Math.min(opts.days ?? SELF_SIGNED_DAYS, SELF_SIGNED_DAYS),
  });
  await writePair(opts.dir, cert, key);
  return { ...paths, created: true, info: validateCertificatePair(cert, key) };
}

async function readPair(paths: CertificateFiles): Promise<{ cert: string; key: string } | null> {
  try {
    return { cert: await readFile(paths.certPath, 'utf8'), key: await readFile(paths.keyPath, 'utf8') };
  } catch {
    return null;
  }
}

async function makeSelfSigned(opts: {
  names: string[];
  ips: string[];
  exec: Exec;
  days: number;
}): Promise<{ cert: string; key: string }> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  // openssl needs the key in a file; a private temp folder, removed whatever happens
  const work = join(tmpdir(), `drydock-tls-${randomBytes(8).toString('hex')}`);
  await mkdir(work, { mode: 0o700 });
  try {
    const keyFile = join(work, 'key.pem');
    const certFile = join(work, 'cert.pem');
    await writeFile(keyFile, key, { mode: 0o600 });
    const san = [...opts.names.map((n) => `DNS:${n}`), ...opts.ips.map((ip) => `IP:${ip}`)].join(',');
    const cn = opts.names[0] ?? opts.ips[0] ?? 'drydock';
    await opts.exec('openssl', [
      'req',
      '-x509',
      '-new',
      '-key',
      keyFile,
      '-out',
      certFile,
      '-days',
      String(opts.days),
      '-sha256',
      '-subj',
      `/O=Drydock appliance/CN=${cn}`,
      '-addext',
      `subjectAltName=${san}`,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'keyUsage=critical,digitalSignature',
      '-addext',
      'extendedKeyUsage=serverAuth',
    ]);
    return { cert: await readFile(certFile, 'utf8'), key };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Writes both files atomically (temp + rename), key 0600, folder 0700. */
export async function writePair(dir: string, cert: string, key: string): Promise<CertificateFiles> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const paths = certificatePaths(dir);
  const suffix = `.tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(paths.keyPath + suffix, key, { mode: 0o600 });
  await chmod(paths.keyPath + suffix, 0o600);
  await writeFile(paths.certPath + suffix, cert, { mode: 0o644 });
  await rename(paths.keyPath + suffix, paths.keyPath);
  await rename(paths.certPath + suffix, paths.certPath);
  return paths;
}

/**
 * Checks that `cert` is one PEM certificate (a chain may follow), `key` an unencrypted private key,
 * and that the key belongs to the certificate. Throws TLS_INVALID with the reason otherwise.
 */
export function validateCertificatePair(
  cert: string,
  key: string,
  opts: { now?: number; allowExpired?: boolean } = {},
): CertificateInfo {
  if (typeof cert !== 'string' || !cert.includes('-----BEGIN CERTIFICATE-----'))
    throw new DrydockError('TLS_INVALID', 'the certificate is not a PEM certificate');
  if (typeof key !== 'string' || !/-----BEGIN (EC |RSA )?PRIVATE KEY-----/.test(key))
    throw new DrydockError('TLS_INVALID', 'the key is not an unencrypted PEM private key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new DrydockError('TLS_INVALID', `the certificate cannot be read: ${(err as Error).message}`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new DrydockError('TLS_INVALID', `the private key cannot be read: ${(err as Error).message}`);
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new DrydockError('TLS_INVALID', 'the private key does not belong to the certificate');
  const info = describeCertificate(x509);
  const now = opts.now ?? Date.now();
  if (!opts.allowExpired && Date.parse(info.notAfter) < now)
    throw new DrydockError('TLS_INVALID', `the certificate expired on ${info.notAfter}`);
  return info;
}

function describeCertificate(x509: X509Certificate): CertificateInfo {
  const names: string[] = [];
  const ips: string[] = [];
  for (const part of (x509.subjectAltName ?? '').split(/,\s*/)) {
    if (part.startsWith('DNS:')) names.push(part.slice(4).toLowerCase());
    else if (part.startsWith('IP Address:')) ips.push(normaliseIp(part.slice(11)));
  }
  return {
    subject: x509.subject.replace(/\n/g, ', '),
    issuer: x509.issuer.replace(/\n/g, ', '),
    names,
    ips,
    notBefore: new Date(x509.validFrom).toISOString(),
    notAfter: new Date(x509.validTo).toISOString(),
    fingerprint256: x509.fingerprint256,
    selfSigned: x509.subject === x509.issuer,
  };
}

// node prints IPv6 SANs in full uncompressed form; compare in the form people write
function normaliseIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}

export async function readCertificateInfo(dir: string): Promise<CertificateInfo | null> {
  const pair = await readPair(certificatePaths(dir));
  if (!pair) return null;
  return describeCertificate(new X509Certificate(pair.cert));
}
