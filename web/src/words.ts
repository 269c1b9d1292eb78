// Plain words for the engine's states and history outcomes.
import { MACHINE } from '../../updater/engine/machine.ts';
import type { HistoryEntry, UpdateState } from './types.ts';

export function stateLabel(s: UpdateState): string {
  return MACHINE[s]?.words ?? s;
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
