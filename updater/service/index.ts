// The updater service: `drydock updater serve` (HTTPS API for the admin page and scripts), and the
// pieces other parts call: ensureCertificate (first boot), the "service" migrations, and
// setAdminPassword / consumeInitialAdmin (the CLI and first boot's initial-admin.json).

export type { Context, Limits, ServiceDeps } from './context.ts';
export { type Migrate, type OpenDatabase, openServiceDatabase, SERVICE_MIGRATIONS } from './db.ts';
export {
  ADMIN_USER,
  checkPasswordStrength,
  consumeInitialAdmin,
  getUser,
  hashPassword,
  initialAdminPath,
  isCommonPassword,
  needsRehash,
  setAdminPassword,
  verifyPassword,
} from './passwords.ts';
export { boxSeed, inMaintenanceWindow, type Wave, waveOpen, waveOpensAt, windowProblem } from './policy.ts';
export { pickRelease, Scheduler } from './scheduler.ts';
export { type Endpoint, parseEndpoint, type RunningService, startService } from './serve.ts';
export { createService } from './server.ts';
export { SessionStore } from './sessions.ts';
export { supportBundle } from './support.ts';
export { endLoginDelays, LoginThrottle } from './throttle.ts';
export {
  type CertificateFiles,
  type CertificateInfo,
  defaultExec,
  ensureCertificate,
  validateCertificatePair,
  writePair,
} from './tls.ts';
export { spoolDir } from './upload.ts';
