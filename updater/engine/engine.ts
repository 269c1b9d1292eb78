// The update engine: moves the box to a verified release or leaves it where it was. Each state
// transition (machine.ts) is one SQLite transaction written before the side effect it starts, so
// that a crash at any point leaves a row saying what was under way, and `converge` (run by every
// open) finishes or undoes it. Side effects are idempotent so that converging may simply redo them.
// This class is the Box interface over the step modules, which share one EngineContext:
// stage.ts, download.ts, apply.ts (+ gate.ts, hooks.ts), rollback.ts, converge.ts, status.ts.
import { DrydockError } from '../../core/index.ts';
import type { BlobStore } from '../blobstore/index.ts';
import type { ClusterDriver } from '../cluster/index.ts';
import type { Release } from '../release/index.ts';
import type {
  Actor,
  AuditEntry,
  Box,
  BoxStatus,
  HistoryEntry,
  ReleaseSummary,
  Settings,
  UpdateEvent,
  UpdateState,
} from './api.ts';
import { applyStaged } from './apply.ts';
import { EngineContext, type EngineParts } from './context.ts';
import { converge } from './converge.ts';
import type { DataAction, RollbackPlan } from './data-plan.ts';
import type { Db } from './db.ts';
import { downloadRelease } from './download.ts';
import { rollbackPlan, rollbackToPrevious } from './rollback.ts';
import { type SettingsPatch, validateSettings } from './settings.ts';
import { stageBundle } from './stage.ts';
import { boxStatus, checkChannel } from './status.ts';

export type { EngineParts } from './context.ts';

export class Engine implements Box {
  readonly root: string;
  private readonly ctx: EngineContext;

  constructor(parts: EngineParts) {
    this.ctx = new EngineContext(parts);
    this.root = this.ctx.root;
  }

  /** Finishes or undoes whatever a crash interrupted; a no-op when another live process holds the lock. */
  converge(): Promise<void> {
    return converge(this.ctx);
  }

  status(): Promise<BoxStatus> {
    return boxStatus(this.ctx);
  }

  subscribe(listener: (event: UpdateEvent) => void): () => void {
    this.ctx.events.on('event', listener);
    return () => this.ctx.events.off('event', listener);
  }

  check(actor: Actor): Promise<ReleaseSummary[]> {
    return checkChannel(this.ctx, actor);
  }

  download(actor: Actor, version?: string): Promise<void> {
    const ctx = this.ctx;
    return ctx.withLock('download', async () => {
      const abort = new AbortController();
      const done = downloadRelease(ctx, actor, version, null);
      ctx.downloading = { abort, done };
      try {
        return await done;
      } finally {
        ctx.downloading = null;
      }
    });
  }

  async stage(actor: Actor, bundlePath: string): Promise<ReleaseSummary> {
    const release = await this.ctx.withLock('stage', () => stageBundle(this.ctx, actor, bundlePath));
    return this.ctx.summary(release, this.ctx.runningPolicy());
  }

  apply(actor: Actor): Promise<HistoryEntry> {
    return this.ctx.withLock('apply', () => applyStaged(this.ctx, actor));
  }

  install(actor: Actor, bundlePath: string): Promise<HistoryEntry> {
    return this.ctx.withLock('install', async () => {
      await stageBundle(this.ctx, actor, bundlePath);
      return applyStaged(this.ctx, actor);
    });
  }

  async cancel(actor: Actor): Promise<void> {
    const { rec } = this.ctx;
    const running = this.ctx.downloading;
    if (running) {
      // a download of this process: stop it; it records the cancellation itself
      running.abort.abort();
      await running.done.catch(() => {});
      rec.audit(actor.user, actor.from, 'cancel', 'stopped the download', 'ok');
      return;
    }
    await this.ctx.withLock('cancel', async () => {
      const st = rec.state();
      if (st.state !== 'staged' && st.state !== 'available')
        throw new DrydockError('UPDATE_NOT_CANCELLABLE', `nothing to cancel in state ${st.state}`);
      this.ctx.go({
        state: 'idle',
        target_name: null,
        target_version: null,
        step: null,
        error_code: null,
        error_message: null,
      });
      rec.audit(actor.user, actor.from, 'cancel', `dropped ${st.target_version ?? 'the offer'}`, 'ok');
      await this.ctx.pruneNow();
    });
  }

  rollback(actor: Actor, opts: { data?: DataAction } = {}): Promise<HistoryEntry> {
    return this.ctx.withLock('rollback', () => rollbackToPrevious(this.ctx, actor, opts));
  }

  /** What an explicit rollback would do (target, data), or null when there is nothing to go back to. */
  rollbackPlan(): Promise<RollbackPlan | null> {
    return rollbackPlan(this.ctx);
  }

  async history(limit?: number): Promise<HistoryEntry[]> {
    return this.ctx.rec.history(limit);
  }

  async audit(limit?: number): Promise<AuditEntry[]> {
    return this.ctx.rec.auditEntries(limit);
  }

  async recordAudit(actor: Actor, action: string, detail: string, result: 'ok' | 'error'): Promise<void> {
    this.ctx.rec.audit(actor.user, actor.from, action, detail, result);
  }

  async getSettings(): Promise<Settings> {
    return this.ctx.rec.settings();
  }

  async putSettings(actor: Actor, patch: Partial<Settings>): Promise<Settings> {
    const { p, rec } = this.ctx;
    const valid: SettingsPatch = validateSettings(patch);
    p.db.transaction(() => {
      for (const [k, v] of Object.entries(valid)) rec.setSetting(k, v);
    })();
    rec.audit(
      actor.user,
      actor.from,
      'settings',
      `changed ${Object.keys(valid).join(', ') || 'nothing'}`,
      'ok',
    );
    return rec.settings();
  }

  async releaseDocument(version: string): Promise<Release | null> {
    const { rec } = this.ctx;
    const row = rec.releaseRow(version);
    if (row) return rec.document(row);
    return rec.available().find((r) => r.version === version) ?? null;
  }

  async close(): Promise<void> {
    this.ctx.events.removeAllListeners();
    if (this.ctx.p.db.open) this.ctx.p.db.close();
  }

  /** For tests and the bench: the store and records behind the box. */
  get internals(): { store: BlobStore; driver: ClusterDriver; db: Db; state: () => UpdateState } {
    const { p, rec } = this.ctx;
    return { store: p.store, driver: p.driver, db: p.db, state: () => rec.state().state };
  }
}
