// Ed25519 keys in the form TUF metadata names them: keyval.public is the raw 32-byte key in hex and
// the key ID is the sha256 of the key's canonical JSON, so python-tuf and tuf-js compute the same IDs.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { Key, Signature } from '@tufjs/models';
import { tufCanonicalJson } from '../release/index.ts';

export interface SigningKey {
  keyId: string;
  key: Key;
  privateKey: KeyObject;
}

/** The public half as TUF writes it: {keytype, scheme, keyval: {public: hex}}. */
export function tufPublicKey(publicKey: KeyObject): Key {
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  // an Ed25519 SPKI is a fixed 12-byte prefix followed by the raw 32-byte key
  const raw = spki.subarray(spki.length - 32).toString('hex');
  const body = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: raw } };
  const keyID = createHash('sha256').update(tufCanonicalJson(body)).digest('hex');
  return new Key({ keyID, keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: raw } });
}

export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const key = tufPublicKey(publicKey);
  return { keyId: key.keyID, key, privateKey };
}

export function signingKeyFromPem(pem: string): SigningKey {
  const privateKey = createPrivateKey(pem);
  const key = tufPublicKey(createPublicKey(privateKey));
  return { keyId: key.keyID, key, privateKey };
}

export function privateKeyPem(k: SigningKey): string {
  return k.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** The signer function @tufjs/models' Metadata.sign expects (it passes the canonical bytes). */
export function signerFor(k: SigningKey): (data: Buffer) => Signature {
  return (data) => new Signature({ keyID: k.keyId, sig: sign(null, data, k.privateKey).toString('hex') });
}
