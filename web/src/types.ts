// The data shapes the service returns are the engine's contract; the page only imports their types.
export type {
  AuditEntry,
  BoxStatus,
  HistoryEntry,
  ProgressStep,
  ReleaseSummary,
  Settings,
  UpdateEvent,
  UpdateState,
  WorkloadHealth,
} from '../../updater/engine/index.ts';
