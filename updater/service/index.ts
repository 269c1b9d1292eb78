// The updater service: `drydock updater serve` (HTTPS API for the admin page and scripts), and the
// pieces other parts call: ensureCertificate (first boot), the "service" migrations, and
// setAdminPassword / consumeInitialAdmin (the CLI and first boot's initial-admin.json).

export { type Context, DEFAULT_LIMITS, type Limits, SESSION_COOKIE, type ServiceDeps } from './context.ts';
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
export { createLogger, LogRing, REDACT_PATHS } from './logger.ts';
export { renderMetrics } from './metrics.ts';
export {
  ADMIN_USER,
  checkPasswordStrength,
  consumeInitialAdmin,
  getUser,
  hashPassword,
  initialAdminPath,
  isCommonPassword,
  MIN_PASSWORD_LENGTH,
  needsRehash,
  SCRYPT_PARAMS,
  setAdminPassword,
  verifyPassword,
} from './passwords.ts';
export {
  boxSeed,
  inMaintenanceWindow,
  localParts,
  type Wave,
  waveOpen,
  waveOpensAt,
  windowProblem,
} from './policy.ts';
export { pickRelease, SCHEDULE_ACTOR, Scheduler } from './scheduler.ts';
export {
  DEFAULT_WEB_DIR,
  type Endpoint,
  loadEngine,
  parseEndpoint,
  type RunningService,
  startService,
} from './serve.ts';
export { createService } from './server.ts';
export { SessionStore } from './sessions.ts';
export { redact, supportBundle } from './support.ts';
export { endLoginDelays, LoginThrottle } from './throttle.ts';
export {
  type CertificateFiles,
  type CertificateInfo,
  certificatePaths,
  defaultExec,
  ensureCertificate,
  readCertificateInfo,
  validateCertificatePair,
  writePair,
} from './tls.ts';
export { cleanSpool, spoolDir, spoolUpload } from './upload.ts';
