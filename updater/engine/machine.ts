// The update state machine as data: every state, whether an update is under way in it (active:
// the lock is held and `converge` finishes or undoes it after a crash), the words the admin page
// shows, and the transitions the engine may record. `Records.transition` refuses any other, so a
// change to the engine that invents a path fails loudly instead of leaving a row nobody converges.
// Retention, metrics, the admin page, the CLI and docs/architecture.md derive their lists from it.
// core/errors.ts directly (not core/index.ts): the admin page bundles this file too
import { DrydockError } from '../../core/errors.ts';

export const STATES = [
  'idle',
  'available',
  'downloading',
  'staged',
  'snapshotting',
  'applying',
  'verifying-health',
  'committed',
  'rolling-back',
  'rolled-back',
  'failed',
] as const;

export type UpdateState = (typeof STATES)[number];

export interface StateInfo {
  /** an update is under way: the lock is held, and after a crash `converge` finishes or undoes it */
  active: boolean;
  /** what the admin page says */
  words: string;
  /** the states the engine may go to from here, each with why (the diagram's edge label) */
  to: Partial<Record<UpdateState, string>>;
}

// The resting states (not active) all lead to a new staging, a channel download, a check and an
// explicit rollback alike; written once here.
const FROM_REST = {
  downloading: 'stage / download',
  'rolling-back': 'rollback',
  failed: 'download refused before it began (disk)',
} as const;

export const MACHINE: Record<UpdateState, StateInfo> = {
  idle: {
    active: false,
    words: 'No update in progress',
    to: { ...FROM_REST, available: 'check finds a release' },
  },
  available: {
    active: false,
    words: 'Update available',
    to: { ...FROM_REST, available: 'check', idle: 'cancel' },
  },
  downloading: {
    active: true,
    words: 'Downloading',
    to: {
      staged: 'verified and stored',
      failed: 'error / interrupted',
      // refused input puts back the resting state it started from (staged and failed are edges already)
      idle: 'cancelled, or refused input (back where it was)',
      available: 'refused input (back where it was)',
      committed: 'refused input (back where it was)',
      'rolled-back': 'refused input (back where it was)',
    },
  },
  staged: {
    active: false,
    words: 'Ready to install',
    to: {
      ...FROM_REST,
      snapshotting: 'apply (a release runs)',
      applying: 'apply (first install)',
      idle: 'cancel',
    },
  },
  snapshotting: {
    active: true,
    words: 'Taking a snapshot',
    to: { applying: 'snapshot taken', failed: 'snapshot failed / interrupted' },
  },
  applying: {
    active: true,
    words: 'Applying',
    to: {
      'verifying-health': 'side effects done',
      'rolling-back': 'apply failed',
      applying: 'redone after a crash',
    },
  },
  'verifying-health': {
    active: true,
    words: 'Checking health',
    to: { committed: 'healthy', 'rolling-back': 'deadline passed', applying: 'redone after a crash' },
  },
  committed: {
    active: false,
    words: 'Last update installed',
    to: { ...FROM_REST, available: 'check finds a release' },
  },
  'rolling-back': {
    active: true,
    words: 'Rolling back',
    to: { 'rolled-back': 'previous release back', failed: 'first install undone / rollback unhealthy' },
  },
  'rolled-back': {
    active: false,
    words: 'Rolled back',
    to: { ...FROM_REST, available: 'check finds a release' },
  },
  failed: {
    active: false,
    words: 'Failed',
    to: { ...FROM_REST, available: 'check finds a release' },
  },
};

export const ACTIVE_STATES: ReadonlySet<UpdateState> = new Set(STATES.filter((s) => MACHINE[s].active));
export const RESTING_STATES: readonly UpdateState[] = STATES.filter((s) => !MACHINE[s].active);

export function canTransition(from: UpdateState, to: UpdateState): boolean {
  return to in MACHINE[from].to;
}

/** Every edge of the table, in table order. */
export function transitions(): { from: UpdateState; to: UpdateState; why: string }[] {
  return STATES.flatMap((from) =>
    Object.entries(MACHINE[from].to).map(([to, why]) => ({ from, to: to as UpdateState, why: why! })),
  );
}

/** Throws ILLEGAL_TRANSITION when the table has no edge from → to. */
export function requireTransition(from: UpdateState, to: UpdateState): void {
  if (!canTransition(from, to))
    throw new DrydockError(
      'ILLEGAL_TRANSITION',
      `the update engine may not go from ${from} to ${to} (updater/engine/machine.ts)`,
      { details: { from, to } },
    );
}

/** The diagram of docs/architecture.md (Mermaid stateDiagram-v2), generated from the table. */
export function mermaid(): string {
  const id = (s: UpdateState) => s.replace(/-/g, '_');
  const lines = ['stateDiagram-v2', '  [*] --> idle'];
  for (const s of STATES) lines.push(`  state "${s}${MACHINE[s].active ? ' (active)' : ''}" as ${id(s)}`);
  for (const t of transitions()) lines.push(`  ${id(t.from)} --> ${id(t.to)}: ${t.why}`);
  return lines.join('\n');
}
