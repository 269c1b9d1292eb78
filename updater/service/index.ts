// The updater service: `drydock updater serve` (HTTPS API for the admin page and scripts), and the
// pieces other parts call: ensureCertificate (first boot, seam 8), the "service" migrations and
// setAdminPassword / consumeInitialAdmin (seams 6 and 7).
export {
  getMeta,
  localMigrate,
  localOpenDatabase,
  type Migrate,
  type OpenDatabase,
  openServiceDatabase,
  SERVICE_MIGRATION_SET,
  SERVICE_MIGRATIONS,
  setMeta,
  stateDbPath,
} from './db.ts';
export {
  ADMIN_USER,
  checkPasswordStrength,
  consumeInitialAdmin,
  getUser,
  hashPassword,
  initialAdminPath,
  MIN_PASSWORD_LENGTH,
  setAdminPassword,
  verifyPassword,
} from './passwords.ts';
export {
  type CertificateFiles,
  type CertificateInfo,
  certificatePaths,
  defaultExec,
  type Exec,
  ensureCertificate,
  readCertificateInfo,
  validateCertificatePair,
  writePair,
} from './tls.ts';
