// The update engine as the service and the CLI see it. The engine implements Box; the updater
// service exposes it over HTTPS (its JSON mirrors these types); the admin page renders it.
// This file is the contract between those parts: change it deliberately and on all sides.

import type { Release } from '../release/index.ts';
import type { DataAction, RollbackPlan } from './data-plan.ts';
import type { UpdateState } from './machine.ts';

/** The states of the update machine: the table (states, transitions, which are active) is machine.ts. */
export type { UpdateState };

/** Steps that report byte or item progress. */
export type ProgressStep =
  | 'download'
  | 'upload'
  | 'verify'
  | 'stage'
  | 'snapshot'
  | 'import'
  | 'apply'
  | 'health'
  | 'restore';

export interface Actor {
  /** "admin", "cli", "schedule" … */
  user: string;
  /** remote address for the service, "local" for the CLI */
  from: string;
}

export interface ReleaseSummary {
  name: string;
  version: string;
  channel: string;
  upgradeFrom: string;
  notes: string;
  /** bytes the box still has to fetch for it (0 when all blobs are present) */
  downloadBytes: number;
  /** total bytes of its blobs */
  totalBytes: number;
  /** the release's health deadline, the upper bound of expected downtime */
  deadlineSeconds: number;
  changesData: boolean;
  k3sVersion?: string;
  /** release.json createdAt: fleet waves count their afterHours from it (service scheduler) */
  createdAt?: string;
  /** release.json waves, for the service's automatic staging (manual updates ignore waves) */
  waves?: { fraction: number; afterHours: number }[];
  /** false when policy refuses it (downgrade, upgradeFrom, k3s skew, wave not open yet) */
  installable: boolean;
  reason?: string;
}

export interface WorkloadHealth {
  kind: string;
  namespace: string;
  name: string;
  ready: boolean;
  /** e.g. "2/2 ready", "CrashLoopBackOff: container web exited 1" */
  message: string;
}

export interface HistoryEntry {
  id: number;
  fromVersion: string | null;
  toVersion: string;
  /** install | update | rollback */
  kind: 'install' | 'update' | 'rollback';
  outcome: 'committed' | 'rolled-back' | 'failed' | 'cancelled' | 'in-progress';
  /** plain words: why it failed or rolled back, e.g. "health deadline of 30 s passed: web 0/1 ready (CrashLoopBackOff)" */
  reason: string | null;
  /** true when the engine rolled back on its own (health gate), not at the admin's request */
  automatic: boolean;
  startedAt: string;
  finishedAt: string | null;
  actor: string;
  /** per-step durations in milliseconds */
  steps: Record<string, number>;
}

export interface AuditEntry {
  id: number;
  at: string;
  user: string;
  from: string;
  action: string;
  detail: string;
  result: 'ok' | 'error';
}

export interface Settings {
  channelUrl: string | null;
  /** cron expression for update checks (node-cron syntax) */
  checkSchedule: string;
  autoStage: boolean;
  /** off by default: only with a maintenance window */
  autoApply: boolean;
  /** e.g. { days: ["sat","sun"], start: "02:00", end: "05:00" } in the box's local time; null = none */
  maintenanceWindow: { days: string[]; start: string; end: string } | null;
}

export interface BoxStatus {
  running: { name: string; version: string; k3sVersion: string | null; installedAt: string } | null;
  previous: { name: string; version: string } | null;
  state: UpdateState;
  /** the release the current or last update is about */
  target: { name: string; version: string } | null;
  /** the step in progress and its progress, for a client that (re)connects */
  progress: { step: ProgressStep; done: number; total: number | null } | null;
  /** reason of the last failure or rollback, plain words */
  lastError: { code: string; message: string } | null;
  workloads: WorkloadHealth[];
  disk: { path: string; totalBytes: number; freeBytes: number };
  lastCheck: { at: string; result: 'ok' | 'error'; message: string } | null;
  available: ReleaseSummary[];
  history: HistoryEntry[];
}

export type UpdateEvent =
  | {
      type: 'state';
      state: UpdateState;
      target: { name: string; version: string } | null;
      reason?: string;
      at: string;
    }
  | { type: 'progress'; step: ProgressStep; done: number; total: number | null; at: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string; at: string };

export interface Box {
  readonly root: string;
  status(): Promise<BoxStatus>;
  /** Subscribe to state, progress and log events; returns the unsubscribe function. */
  subscribe(listener: (event: UpdateEvent) => void): () => void;

  /** Online: refresh the channel (TUF) and list what is available. */
  check(actor: Actor): Promise<ReleaseSummary[]>;
  /** Online: fetch (resuming) and verify the blobs of a release into the store; ends in "staged". */
  download(actor: Actor, version?: string): Promise<void>;
  /** Offline: verify a bundle file (or an upload spooled to a file) and stage it; ends in "staged". */
  stage(actor: Actor, bundlePath: string): Promise<ReleaseSummary>;
  /** snapshot → apply → health → commit, or roll back; resolves with the final history entry. */
  apply(actor: Actor): Promise<HistoryEntry>;
  /** verify + stage + apply in one go (`drydock update install`). */
  install(actor: Actor, bundlePath: string): Promise<HistoryEntry>;
  /** Only before "applying": drops the staged release. */
  cancel(actor: Actor): Promise<void>;
  /** Back to the retained previous release (data snapshot restored if that release changed data). */
  /** `data`: restore the snapshot or keep the data (default: what data-plan.ts says for the release) */
  rollback(actor: Actor, opts?: { data?: DataAction }): Promise<HistoryEntry>;
  rollbackPlan(): Promise<RollbackPlan | null>;

  history(limit?: number): Promise<HistoryEntry[]>;
  audit(limit?: number): Promise<AuditEntry[]>;
  /** Records an action of another part (sign-in, settings, certificate) in the audit log. */
  recordAudit(actor: Actor, action: string, detail: string, result: 'ok' | 'error'): Promise<void>;
  getSettings(): Promise<Settings>;
  putSettings(actor: Actor, settings: Partial<Settings>): Promise<Settings>;
  /** The release documents the box holds (running, previous, staged). */
  releaseDocument(version: string): Promise<Release | null>;
  close(): Promise<void>;
}
