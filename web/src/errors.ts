// Turns the service's stable error codes into sentences that say what happened and what to do.
// The service's own message (already plain, e.g. "signature of release.json does not verify") is
// kept, and a hint about the next step is added.

const HINTS: Record<string, string> = {
  OFFLINE: 'Check that the appliance is running and reachable, then try again.',
  UNAUTHENTICATED: 'Your session has ended. Sign in again.',
  CSRF_INVALID: 'The page is out of date. Reload it and try again.',
  FORBIDDEN: 'You are not allowed to do this. Sign in again.',
  PASSWORD_CHANGE_REQUIRED: 'Choose a new password first.',
  PASSWORD_WEAK: 'Choose a longer password (at least 12 characters, not the old one).',
  RATE_LIMITED: 'Too many attempts. Wait a minute, then try again.',
  PAYLOAD_TOO_LARGE: 'The file is larger than the appliance accepts. Check that you chose the right file.',
  BUNDLE_TOO_LARGE: 'The file is larger than the appliance accepts. Check that you chose the right file.',
  BUNDLE_NOT_A_BUNDLE: 'Choose a .drydock release bundle from your vendor.',
  BUNDLE_TRUNCATED: 'The file is incomplete. Download the bundle again and upload it once more.',
  BUNDLE_TRAILING_DATA: 'The file was altered after it was signed. Download it again from your vendor.',
  BUNDLE_UNSAFE_ENTRY: 'The file is not a valid release bundle. Download it again from your vendor.',
  BUNDLE_DUPLICATE_ENTRY: 'The file is not a valid release bundle. Download it again from your vendor.',
  BUNDLE_SIGNATURE_INVALID:
    'The bundle is not signed by your vendor or was changed after signing. Nothing was installed. Download it again from your vendor.',
  BUNDLE_RELEASE_INVALID: 'The bundle does not describe a valid release. Ask your vendor for a new one.',
  BLOB_DIGEST_MISMATCH:
    'The bundle was changed or damaged after it was signed. Nothing was installed. Download it again from your vendor.',
  BLOB_SIZE_MISMATCH:
    'The bundle was changed or damaged after it was signed. Nothing was installed. Download it again from your vendor.',
  BLOB_MISSING:
    'This is a delta bundle for a version this appliance does not run. Use the full bundle instead.',
  BLOB_UNEXPECTED: 'The bundle holds files its release does not list. Download it again from your vendor.',
  SIGNATURE_INVALID:
    'The update is not signed by your vendor or was changed after signing. Nothing was installed.',
  THRESHOLD_NOT_MET: 'The update lacks enough valid signatures. Nothing was installed.',
  UNKNOWN_KEY: 'The update is signed with a key this appliance does not trust. Nothing was installed.',
  METADATA_EXPIRED:
    'The signed update information has expired. Check the appliance clock, or get a fresh bundle.',
  METADATA_INVALID: 'The signed update information is damaged. Get a fresh bundle or check the channel.',
  METADATA_ROLLBACK: 'The update information is older than what the appliance already saw. It was refused.',
  ROOT_CHAIN_BROKEN: 'The update is signed by keys the appliance cannot link to its trusted keys.',
  DOWNGRADE_REFUSED: 'This appliance already runs that version or a newer one.',
  UPGRADE_PATH_INVALID:
    'This release cannot be installed over the running version. Install an intermediate release first.',
  K3S_SKEW: 'This release needs an intermediate Kubernetes version first. Install the releases in order.',
  PREFLIGHT_FAILED:
    'A check before the update failed; nothing was changed. Fix the cause shown and try again.',
  NO_UPDATE: 'There is no update to install. Check for updates first.',
  NO_PREVIOUS_RELEASE: 'There is no earlier release kept on this appliance to roll back to.',
  UPDATE_IN_PROGRESS: 'Another update is running. Wait for it to finish.',
  UPDATE_NOT_CANCELLABLE: 'The update is already being applied and can no longer be cancelled.',
  HEALTH_TIMEOUT: 'The new release did not become healthy in time, so the previous one was restored.',
  APPLY_FAILED: 'The new release could not be applied, so the previous one was restored.',
  UPDATE_ROLLED_BACK: 'The new release did not become healthy, so the previous one was restored.',
  DISK_FULL: 'The appliance disk is full. Free space (or enlarge the disk), then try again.',
  NETWORK_FAILED:
    'The update channel could not be reached. Check the channel address and the network, or upload an offline bundle.',
  CLUSTER_UNAVAILABLE:
    'Kubernetes on the appliance is not answering. Wait a minute, then try again; if it persists, download a support bundle.',
  TLS_INVALID: 'Upload a PEM certificate and the matching private key (unencrypted).',
  CONFIG_INVALID: 'Check the values you entered.',
  USAGE: 'Check the values you entered.',
  BOX_NOT_INITIALISED: 'The appliance has no release installed yet.',
  INTERNAL:
    'Something went wrong inside the appliance. Download a support bundle and send it to your vendor.',
};

function sentence(s: string): string {
  const t = s.trim();
  if (!t) return t;
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

export function plainMessage(code: string, message: string, status: number): string {
  const hint =
    HINTS[code] ??
    (status >= 500
      ? (HINTS.INTERNAL ?? '')
      : status === 0
        ? (HINTS.OFFLINE ?? '')
        : 'Check what you entered and try again.');
  const msg = sentence(message);
  if (!msg || msg === sentence(hint)) return hint;
  return `${msg} ${hint}`;
}
