export { openSealedKey, sealKey } from './keyfile.ts';
export { generateSigningKey, type SigningKey, signerFor, signingKeyFromPem, tufPublicKey } from './keys.ts';
export {
  type ExternalSigner,
  initKeys,
  type KeyAccess,
  type KeySet,
  loadKeySet,
  loadTrustedRoot,
  ROOT_EXPIRY_DAYS,
  rotateKeys,
} from './keyset.ts';
export {
  expiresIn,
  isRoleName,
  Metadata,
  newSnapshot,
  newTargets,
  newTimestamp,
  parseMetadata,
  type RoleName,
  serialize,
  sha256Hex,
  type TargetEntry,
  TOP_ROLES,
  tufTime,
} from './metadata.ts';
export {
  checkSignatures,
  type TopLevel,
  updateRoot,
  verifyRootChain,
  verifyTarget,
  verifyTopLevel,
} from './verify.ts';
