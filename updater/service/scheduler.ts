// Automatic work on the schedule from settings: check the channel; stage the newest installable
// release once its fleet wave opened (if autoStage); apply a staged release only inside the
// maintenance window (if autoApply). Decisions are the pure functions of policy.ts.
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import semver from 'semver';
import type { Actor, Box, ReleaseSummary, Settings } from '../engine/api.ts';
import { inMaintenanceWindow, waveOpen } from './policy.ts';

const SCHEDULE_ACTOR: Actor = { user: 'schedule', from: 'local' };

/** Pick the release to stage: the newest installable one whose wave is open. Pure. */
export function pickRelease(available: ReleaseSummary[], seed: number, now: number): ReleaseSummary | null {
  const candidates = available
    .filter((r) => r.installable)
    .filter((r) => !r.createdAt || waveOpen(r.createdAt, r.waves, seed, now))
    .sort((a, b) => semver.rcompare(a.version, b.version));
  return candidates[0] ?? null;
}

export class Scheduler {
  private checkTask: ScheduledTask | null = null;
  private readonly windowTask: ScheduledTask;
  private running = false;

  constructor(
    private readonly deps: {
      box: Box;
      seed: number;
      now: () => number;
      log: Logger;
      /** the service's lock: automatic work never overlaps an admin's request */
      runExclusive: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
      timeZone?: string;
    },
  ) {
    // the window may open between two checks: look every 5 minutes whether a staged release can go
    this.windowTask = cron.schedule('*/5 * * * *', () => void this.maybeApply(), { name: 'drydock-window' });
  }

  /** (Re)reads the schedule from settings; call after every settings change. */
  configure(settings: Settings): void {
    this.checkTask?.destroy();
    this.checkTask = null;
    if (!cron.validate(settings.checkSchedule)) {
      this.deps.log.warn(
        { schedule: settings.checkSchedule },
        'check schedule is not a valid cron expression',
      );
      return;
    }
    this.checkTask = cron.schedule(settings.checkSchedule, () => void this.tick(), { name: 'drydock-check' });
  }

  /** One scheduled round; exported for tests and for `updater serve --check-now`. */
  async tick(): Promise<{ checked: boolean; staged: string | null; applied: boolean }> {
    if (this.running) return { checked: false, staged: null, applied: false };
    this.running = true;
    try {
      const settings = await this.deps.box.getSettings();
      if (!settings.channelUrl) return { checked: false, staged: null, applied: false };
      const available = await this.deps.box.check(SCHEDULE_ACTOR);
      let staged: string | null = null;
      if (settings.autoStage) {
        const pick = pickRelease(available, this.deps.seed, this.deps.now());
        const status = await this.deps.box.status();
        if (
          pick &&
          (status.state === 'idle' ||
            status.state === 'available' ||
            status.state === 'committed' ||
            status.state === 'rolled-back' ||
            status.state === 'failed')
        ) {
          await this.deps.runExclusive('download', () =>
            this.deps.box.download(SCHEDULE_ACTOR, pick.version),
          );
          staged = pick.version;
        }
      }
      const applied = await this.maybeApply();
      return { checked: true, staged, applied };
    } catch (err) {
      this.deps.log.warn({ err }, 'scheduled update check failed');
      return { checked: true, staged: null, applied: false };
    } finally {
      this.running = false;
    }
  }

  async maybeApply(): Promise<boolean> {
    try {
      const settings = await this.deps.box.getSettings();
      if (
        !settings.autoApply ||
        !inMaintenanceWindow(settings.maintenanceWindow, this.deps.now(), this.deps.timeZone)
      )
        return false;
      const status = await this.deps.box.status();
      if (status.state !== 'staged') return false;
      await this.deps.runExclusive('apply', () => this.deps.box.apply(SCHEDULE_ACTOR));
      return true;
    } catch (err) {
      this.deps.log.warn({ err }, 'scheduled apply failed');
      return false;
    }
  }

  stop(): void {
    this.checkTask?.destroy();
    this.windowTask.destroy();
  }
}
