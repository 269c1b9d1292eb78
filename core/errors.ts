// The one error table: every failure Drydock reports has a stable code, and this table maps it to
// a CLI exit code and an HTTP status. Parts throw DrydockError(code, message); nothing else decides
// exit codes or statuses. Add a code here (keep groups sorted) rather than inventing one locally.

interface Mapping {
  exit: number;
  http: number;
}

// exit 1: the input was refused (verification, validation, policy); exit 2: wrong usage;
// exit 3: the work ran and was undone (rolled back); exit 4: busy/conflict; exit 5: environment (disk, tools, network).
const ERROR_TABLE = {
  // usage and input at the edge
  USAGE: { exit: 2, http: 400 },
  SPEC_INVALID: { exit: 1, http: 400 },
  SPEC_FILE_MISSING: { exit: 1, http: 400 },
  CONFIG_INVALID: { exit: 1, http: 400 },
  NOT_FOUND: { exit: 1, http: 404 },

  // keys and TUF metadata
  KEYS_EXIST: { exit: 1, http: 409 },
  KEYS_MISSING: { exit: 1, http: 400 },
  KEY_PASSPHRASE_MISSING: { exit: 2, http: 400 },
  KEY_PASSPHRASE_WRONG: { exit: 1, http: 400 },
  KEY_FILE_INVALID: { exit: 1, http: 400 },
  SIGNER_FAILED: { exit: 5, http: 500 },
  METADATA_INVALID: { exit: 1, http: 422 },
  METADATA_EXPIRED: { exit: 1, http: 422 },
  METADATA_ROLLBACK: { exit: 1, http: 422 },
  SIGNATURE_INVALID: { exit: 1, http: 422 },
  THRESHOLD_NOT_MET: { exit: 1, http: 422 },
  UNKNOWN_KEY: { exit: 1, http: 422 },
  ROOT_CHAIN_BROKEN: { exit: 1, http: 422 },
  CHANNEL_CONFLICT: { exit: 1, http: 409 },

  // the bundle archive and its blobs
  BUNDLE_NOT_A_BUNDLE: { exit: 1, http: 415 },
  BUNDLE_TRUNCATED: { exit: 1, http: 422 },
  BUNDLE_TRAILING_DATA: { exit: 1, http: 422 },
  BUNDLE_UNSAFE_ENTRY: { exit: 1, http: 422 },
  BUNDLE_DUPLICATE_ENTRY: { exit: 1, http: 422 },
  BUNDLE_TOO_LARGE: { exit: 1, http: 413 },
  BUNDLE_SIGNATURE_INVALID: { exit: 1, http: 422 },
  BUNDLE_RELEASE_INVALID: { exit: 1, http: 422 },
  BLOB_DIGEST_MISMATCH: { exit: 1, http: 422 },
  BLOB_SIZE_MISMATCH: { exit: 1, http: 422 },
  BLOB_MISSING: { exit: 1, http: 422 },
  BLOB_UNEXPECTED: { exit: 1, http: 422 },
  IMAGE_INVALID: { exit: 1, http: 422 },

  // update policy
  DOWNGRADE_REFUSED: { exit: 1, http: 409 },
  UPGRADE_PATH_INVALID: { exit: 1, http: 409 },
  K3S_SKEW: { exit: 1, http: 409 },
  PREFLIGHT_FAILED: { exit: 1, http: 409 },
  NO_UPDATE: { exit: 1, http: 404 },
  NO_PREVIOUS_RELEASE: { exit: 1, http: 409 },
  UPDATE_IN_PROGRESS: { exit: 4, http: 409 },
  UPDATE_NOT_CANCELLABLE: { exit: 4, http: 409 },
  UPDATE_CANCELLED: { exit: 1, http: 409 },
  UPDATE_ROLLED_BACK: { exit: 3, http: 500 },
  HEALTH_TIMEOUT: { exit: 3, http: 500 },
  APPLY_FAILED: { exit: 3, http: 500 },
  BOX_NOT_INITIALISED: { exit: 1, http: 409 },
  BOX_ALREADY_INITIALISED: { exit: 1, http: 409 },

  // the service
  UNAUTHENTICATED: { exit: 1, http: 401 },
  FORBIDDEN: { exit: 1, http: 403 },
  CSRF_INVALID: { exit: 1, http: 403 },
  PASSWORD_CHANGE_REQUIRED: { exit: 1, http: 403 },
  PASSWORD_WEAK: { exit: 1, http: 400 },
  RATE_LIMITED: { exit: 4, http: 429 },
  PAYLOAD_TOO_LARGE: { exit: 1, http: 413 },
  TLS_INVALID: { exit: 1, http: 400 },

  // first boot
  FIRSTBOOT_SETTING_INVALID: { exit: 1, http: 400 },

  // images and AWS
  TOOL_MISSING: { exit: 5, http: 500 },
  TOOL_FAILED: { exit: 5, http: 500 },
  BUILD_INPUT_MISSING: { exit: 1, http: 400 },
  OVF_INVALID: { exit: 1, http: 500 },
  OVA_LAYOUT_INVALID: { exit: 1, http: 422 },
  OVA_MANIFEST_MISMATCH: { exit: 1, http: 422 },
  OVA_SIGNATURE_INVALID: { exit: 1, http: 422 },
  OVA_CERT_UNTRUSTED: { exit: 1, http: 422 },
  AWS_FAILED: { exit: 5, http: 502 },
  STACK_ROLLED_BACK: { exit: 3, http: 500 },
  STACK_FAILED: { exit: 1, http: 500 },

  // environment
  DISK_FULL: { exit: 5, http: 507 },
  NETWORK_FAILED: { exit: 5, http: 502 },
  CLUSTER_UNAVAILABLE: { exit: 5, http: 503 },
  DATABASE_BUSY: { exit: 4, http: 503 },
  DATABASE_CORRUPT: { exit: 5, http: 503 },
  ILLEGAL_TRANSITION: { exit: 70, http: 500 },
  INTERNAL: { exit: 70, http: 500 },
} as const satisfies Record<string, Mapping>;

export type ErrorCode = keyof typeof ERROR_TABLE;

/** What kind of failure a code is (the groups of the table above): logic branches on this, not on exit numbers. */
export type ErrorKind = 'refused' | 'usage' | 'undone' | 'busy' | 'environment' | 'internal';
const KIND_OF_EXIT: Record<number, ErrorKind> = {
  1: 'refused',
  2: 'usage',
  3: 'undone',
  4: 'busy',
  5: 'environment',
  70: 'internal',
};

export class DrydockError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DrydockError';
    this.code = code;
    this.details = options?.details;
  }

  get exitCode(): number {
    return ERROR_TABLE[this.code].exit;
  }

  get kind(): ErrorKind {
    return KIND_OF_EXIT[ERROR_TABLE[this.code].exit] ?? 'internal';
  }

  get httpStatus(): number {
    return ERROR_TABLE[this.code].http;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }
}

export function isDrydockError(err: unknown): err is DrydockError {
  return err instanceof DrydockError;
}

/** Turns anything thrown into a DrydockError; ENOSPC becomes DISK_FULL so every part reports it alike. */
export function asDrydockError(err: unknown): DrydockError {
  if (err instanceof DrydockError) return err;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOSPC' || errno === 'EDQUOT')
    return new DrydockError('DISK_FULL', 'no space left on the device', { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new DrydockError('INTERNAL', message, { cause: err });
}
