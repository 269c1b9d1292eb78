// Plain words for the engine's states and history outcomes.
import type { HistoryEntry, UpdateState } from './types.ts';

const STATES: Record<UpdateState, string> = {
  idle: 'No update in progress',
  available: 'Update available',
  downloading: 'Downloading',
  staged: 'Ready to install',
  snapshotting: 'Taking a snapshot',
  applying: 'Applying',
  'verifying-health': 'Checking health',
  committed: 'Last update installed',
  'rolling-back': 'Rolling back',
  'rolled-back': 'Rolled back',
  failed: 'Failed',
};

export function stateLabel(s: UpdateState): string {
  return STATES[s] ?? s;
}

export function outcomeLabel(h: HistoryEntry): string {
  switch (h.outcome) {
    case 'committed':
      return h.kind === 'rollback' ? 'Rolled back' : 'Installed';
    case 'rolled-back':
      return h.automatic ? 'Rolled back automatically' : 'Rolled back';
    case 'failed':
      return 'Failed';
    case 'cancelled':
      return 'Cancelled';
    case 'in-progress':
      return 'In progress';
  }
  return h.outcome;
}

export function kindLabel(h: HistoryEntry): string {
  return h.kind === 'install' ? 'First install' : h.kind === 'rollback' ? 'Rollback' : 'Update';
}
