// The box's TLS certificate. The updater service owns ensureCertificate (updater/service/tls.ts); first boot calls
// it with the final names. Until that part exports it, openssl makes a self-signed pair the same way.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { DrydockError, notInstalled } from '../../core/index.ts';
import type { Exec } from './deps.ts';

export type EnsureCertificate = (opts: { dir: string; names: string[]; ips: string[] }) => Promise<unknown>;

/** The service's ensureCertificate when its index exports it, else null. */
export async function serviceEnsureCertificate(): Promise<EnsureCertificate | null> {
  try {
    const mod = (await import('../../updater/service/index.ts')) as { ensureCertificate?: EnsureCertificate };
    return typeof mod.ensureCertificate === 'function' ? mod.ensureCertificate : null;
  } catch {
    return null;
  }
}

/** Self-signed P-256 pair through openssl; leaves an existing pair alone. */
export function opensslCertificate(exec: Exec): EnsureCertificate {
  return async ({ dir, names, ips }) => {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    if (
      await access(cert).then(
        () => true,
        () => false,
      )
    )
      return;
    const mk = await exec('mkdir', ['-p', '-m', '0700', dir]);
    if (mk.code !== 0) throw new DrydockError('TOOL_FAILED', `cannot create ${dir}: ${mk.stderr.trim()}`);
    const san = [...names.map((n) => `DNS:${n}`), ...ips.map((i) => `IP:${i}`)].join(',');
    const r = await exec('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '825',
      '-subj',
      `/CN=${names.find((n) => n !== 'localhost') ?? 'localhost'}`,
      '-addext',
      `subjectAltName=${san}`,
      '-addext',
      'extendedKeyUsage=serverAuth',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    if (r.code !== 0)
      throw new DrydockError(
        notInstalled('openssl', r) ? 'TOOL_MISSING' : 'TOOL_FAILED',
        `openssl could not make the certificate: ${r.stderr.trim().split('\n').pop()}`,
      );
    await exec('chmod', ['0600', key]);
  };
}
