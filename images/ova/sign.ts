// The OVA's certificate entry, as DSP0243 (OVF) defines it: the signed digest of the manifest, then
// the X.509 certificate(s) in PEM:
//   SHA256(name.mf)= <hex of the RSA signature over the manifest's bytes>
//   -----BEGIN CERTIFICATE----- …
// The signature is PKCS#1 v1.5 over SHA-256, which is what `openssl dgst -sha256 -sign` makes and
// what vSphere checks. RSA only: its signature length is fixed by the key, so the entry's length is
// known before the disks are written (the manifest it signs is patched in at the end, see pack.ts).
import { createPrivateKey, createPublicKey, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DrydockError } from '../../core/index.ts';

export interface OvaSigner {
  key: KeyObject;
  /** leaf first, then any intermediates, as given */
  certs: X509Certificate[];
  /** the PEM text written after the signature line */
  pem: string;
  /** signature length in bytes (the RSA modulus length) */
  signatureBytes: number;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----/g;

export function parseCertificates(text: string, what: string): X509Certificate[] {
  const blocks = text.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new DrydockError('USAGE', `${what} holds no PEM certificate`);
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new DrydockError('USAGE', `${what}: a certificate does not parse (${(err as Error).message})`);
    }
  });
}

/** Loads and checks the key and certificate before anything is built. */
export async function loadSigner(
  keyPath: string,
  certPath: string,
  now: () => number = Date.now,
): Promise<OvaSigner> {
  const read = async (p: string, what: string) => {
    try {
      return await readFile(p, 'utf8');
    } catch {
      throw new DrydockError('BUILD_INPUT_MISSING', `${what} ${p} cannot be read`);
    }
  };
  const keyText = await read(keyPath, 'signing key');
  const certText = await read(certPath, 'signing certificate');
  let key: KeyObject;
  try {
    key = createPrivateKey(keyText);
  } catch (err) {
    throw new DrydockError('USAGE', `${keyPath} is not a PEM private key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw new DrydockError(
      'USAGE',
      `${keyPath} is a ${key.asymmetricKeyType} key; vSphere verifies RSA signatures (2048 bits or more)`,
    );
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048)
    throw new DrydockError('USAGE', `${keyPath} is a ${bits}-bit RSA key; use 2048 bits or more`);
  const certs = parseCertificates(certText, certPath);
  const leaf = certs[0]!;
  const pub = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(pub))
    throw new DrydockError('USAGE', `the first certificate in ${certPath} is not for the key ${keyPath}`);
  const t = now();
  if (Date.parse(leaf.validFrom) > t || Date.parse(leaf.validTo) < t)
    throw new DrydockError(
      'USAGE',
      `the certificate in ${certPath} is valid from ${leaf.validFrom} to ${leaf.validTo}, not now`,
    );
  const pem = `${certs.map((c) => c.toString().trim()).join('\n')}\n`;
  return { key, certs, pem, signatureBytes: bits / 8 };
}

const certSignatureLine = (mfName: string, hex: string) => `SHA256(${mfName})= ${hex}\n`;

/** Byte length of the .cert entry, known before the manifest it signs exists. */
export function certEntryLength(signer: OvaSigner, mfName: string): number {
  return (
    Buffer.byteLength(certSignatureLine(mfName, '0'.repeat(signer.signatureBytes * 2))) +
    Buffer.byteLength(signer.pem)
  );
}

export function certEntry(signer: OvaSigner, mfName: string, manifest: Buffer): Buffer {
  const sig = sign('sha256', manifest, signer.key);
  if (sig.length !== signer.signatureBytes)
    throw new DrydockError(
      'INTERNAL',
      `RSA signature is ${sig.length} bytes, expected ${signer.signatureBytes}`,
    );
  return Buffer.from(certSignatureLine(mfName, sig.toString('hex')) + signer.pem, 'utf8');
}
