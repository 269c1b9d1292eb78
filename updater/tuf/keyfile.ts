// Private keys at rest: DIR/private/<keyid>.key is the PKCS#8 DER of the key, sealed with
// AES-256-GCM under a key scrypt derives from the passphrase (salt per file). The key ID is bound
// as additional data, so a sealed file renamed to another key's ID does not open. Older key folders
// hold plain <keyid>.pem files; they still load (the caller is warned).
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  scryptSync,
} from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { DrydockError } from '../../core/index.ts';
import { type SigningKey, signingKeyFromPem, tufPublicKey } from './keys.ts';

const SEALED_FORMAT = 'drydock-sealed-key';
// 2^15 × 8 × 128 bytes = 32 MiB and ~0.1 s per key: costly to guess, quick enough to sign
const SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;
const MAXMEM = 64 * 1024 * 1024;

const B64 = Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$' });
const Sealed = Type.Object({
  format: Type.Literal(SEALED_FORMAT),
  version: Type.Literal(1),
  keyid: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  kdf: Type.Object({
    name: Type.Literal('scrypt'),
    N: Type.Integer({ minimum: 2 ** 14, maximum: 2 ** 20 }),
    r: Type.Integer({ minimum: 1, maximum: 32 }),
    p: Type.Integer({ minimum: 1, maximum: 16 }),
    salt: B64,
  }),
  cipher: Type.Object({ name: Type.Literal('aes-256-gcm'), iv: B64, tag: B64 }),
  ciphertext: B64,
});

const deriveKey = (passphrase: string, salt: Buffer, kdf: { N: number; r: number; p: number }) =>
  scryptSync(passphrase.normalize('NFC'), salt, 32, { ...kdf, maxmem: MAXMEM });

export function sealKey(k: SigningKey, passphrase: string): string {
  if (!passphrase) throw new DrydockError('KEY_PASSPHRASE_MISSING', 'an empty passphrase cannot seal a key');
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(passphrase, salt, SCRYPT), iv);
  cipher.setAAD(Buffer.from(k.keyId));
  const der = k.privateKey.export({ format: 'der', type: 'pkcs8' });
  const ciphertext = Buffer.concat([cipher.update(der), cipher.final()]);
  return `${JSON.stringify(
    {
      format: SEALED_FORMAT,
      version: 1,
      keyid: k.keyId,
      kdf: { name: 'scrypt', ...SCRYPT, salt: salt.toString('base64') },
      cipher: { name: 'aes-256-gcm', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64') },
      ciphertext: ciphertext.toString('base64'),
    },
    null,
    2,
  )}\n`;
}

/** Opens a sealed key file; KEY_PASSPHRASE_WRONG when the passphrase does not open it. */
export function openSealedKey(text: string, passphrase: string | undefined, label: string): SigningKey {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new DrydockError('KEY_FILE_INVALID', `${label} is not a sealed key file (not JSON)`);
  }
  if (!Value.Check(Sealed, doc))
    throw new DrydockError('KEY_FILE_INVALID', `${label} is not a ${SEALED_FORMAT} version 1 file`);
  if (!passphrase)
    throw new DrydockError(
      'KEY_PASSPHRASE_MISSING',
      `${label} is encrypted: give its passphrase with --passphrase-file FILE or DRYDOCK_KEY_PASSPHRASE`,
    );
  const { kdf, cipher } = doc;
  let der: Buffer;
  try {
    const d = createDecipheriv(
      'aes-256-gcm',
      deriveKey(passphrase, Buffer.from(kdf.salt, 'base64'), kdf),
      Buffer.from(cipher.iv, 'base64'),
    );
    d.setAAD(Buffer.from(doc.keyid));
    d.setAuthTag(Buffer.from(cipher.tag, 'base64'));
    der = Buffer.concat([d.update(Buffer.from(doc.ciphertext, 'base64')), d.final()]);
  } catch {
    // GCM cannot tell a wrong passphrase from a damaged file; a wrong passphrase is by far likelier
    throw new DrydockError(
      'KEY_PASSPHRASE_WRONG',
      `the passphrase does not open ${label} (wrong passphrase or damaged file)`,
    );
  }
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const key = tufPublicKey(createPublicKey(privateKey));
  if (key.keyID !== doc.keyid)
    throw new DrydockError('KEY_FILE_INVALID', `${label} holds key ${key.keyID}, not ${doc.keyid}`);
  return { keyId: key.keyID, key, privateKey };
}

export function openPlainKey(pem: string, label: string): SigningKey {
  try {
    return signingKeyFromPem(pem);
  } catch (e) {
    throw new DrydockError('KEY_FILE_INVALID', `${label} is not a PEM private key: ${(e as Error).message}`);
  }
}
