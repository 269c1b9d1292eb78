import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureCertificate, validateCertificatePair } from '../../updater/service/index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drydock-tls-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe('ensureCertificate', () => {
  it('makes a self-signed pair with the names and addresses in the SAN, key private', async () => {
    const r = await ensureCertificate({
      dir,
      names: ['box.example.test', 'box'],
      ips: ['192.0.2.10', '::1'],
    });
    expect(r.created).toBe(true);
    const cert = new X509Certificate(await readFile(r.certPath));
    expect(cert.subjectAltName).toContain('DNS:box.example.test');
    expect(cert.subjectAltName).toContain('DNS:box');
    expect(cert.subjectAltName).toContain('IP Address:192.0.2.10');
    expect(r.info.ips).toContain('::1');
    expect((await stat(r.keyPath)).mode & 0o777).toBe(0o600);
    // openssl itself agrees the pair matches and the certificate is for server auth
    const text = execFileSync('openssl', ['x509', '-in', r.certPath, '-noout', '-text'], {
      encoding: 'utf8',
    });
    expect(text).toContain('TLS Web Server Authentication');
  });

  it('keeps an existing pair that covers the names, and remakes its own when a name is new', async () => {
    const a = await ensureCertificate({ dir, names: ['box'], ips: ['127.0.0.1'] });
    const b = await ensureCertificate({ dir, names: ['box'], ips: ['127.0.0.1'] });
    expect(b.created).toBe(false);
    expect(b.info.fingerprint256).toBe(a.info.fingerprint256);
    const c = await ensureCertificate({ dir, names: ['box', 'box.corp.test'], ips: ['127.0.0.1'] });
    expect(c.created).toBe(true);
    expect(c.info.names).toEqual(expect.arrayContaining(['box', 'box.corp.test']));
  });

  it('refuses a bad name or address and writes nothing', async () => {
    await expect(ensureCertificate({ dir, names: ['bad name!'], ips: [] })).rejects.toMatchObject({
      code: 'TLS_INVALID',
    });
    await expect(ensureCertificate({ dir, names: [], ips: ['999.1.1.1'] })).rejects.toMatchObject({
      code: 'TLS_INVALID',
    });
    await expect(stat(join(dir, 'cert.pem'))).rejects.toThrow();
  });
});

describe('validateCertificatePair', () => {
  it('accepts a matching pair and refuses a key of another certificate or garbage', async () => {
    const a = await ensureCertificate({ dir: join(dir, 'a'), names: ['a'], ips: [] });
    const b = await ensureCertificate({ dir: join(dir, 'b'), names: ['b'], ips: [] });
    const certA = await readFile(a.certPath, 'utf8');
    const keyA = await readFile(a.keyPath, 'utf8');
    const keyB = await readFile(b.keyPath, 'utf8');
    expect(validateCertificatePair(certA, keyA).names).toEqual(['a']);
    expect(() => validateCertificatePair(certA, keyB)).toThrow(/does not belong/);
    expect(() => validateCertificatePair('hello', keyA)).toThrow(/not a PEM certificate/);
    expect(() => validateCertificatePair(certA, 'nope')).toThrow(/private key/);
  });
});
