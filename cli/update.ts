// drydock update …: the same engine as the admin page's Software Update button, from a shell.
import type { Command } from 'commander';
import { DrydockError, type Output } from '../core/index.ts';
import { type Box, type HistoryEntry, openBox } from '../updater/engine/index.ts';
import { action } from './run.ts';

const ACTOR = { user: 'cli', from: 'local' };

interface RootOpts {
  root: string;
  json?: boolean;
}

/** Opens (and so converges) the box, reports its events while `fn` runs, closes it. */
async function withBox<T>(out: Output, opts: RootOpts, fn: (box: Box) => Promise<T>): Promise<T> {
  const box = await openBox({ root: opts.root, log: (level, m) => level !== 'info' && out.info(m) });
  const off = box.subscribe((ev) => {
    if (ev.type === 'progress') out.progress(ev.step, ev.done, ev.total ?? undefined);
    else if (ev.type === 'state') {
      if (out.json)
        process.stdout.write(
          `${JSON.stringify({ event: 'state', state: ev.state, target: ev.target, reason: ev.reason })}\n`,
        );
      else
        out.info(
          `${ev.state}${ev.target ? ` ${ev.target.version}` : ''}${ev.reason ? `: ${ev.reason}` : ''}`,
        );
    }
  });
  try {
    return await fn(box);
  } finally {
    off();
    await box.close();
  }
}

/** Exit 0 only when committed: a rollback is exit 3 through the error table. */
function finish(out: Output, entry: HistoryEntry, want: HistoryEntry['outcome'] = 'committed'): number {
  if (entry.outcome !== want)
    throw new DrydockError(
      'UPDATE_ROLLED_BACK',
      entry.reason ?? `${entry.kind} to ${entry.toVersion} ended ${entry.outcome}`,
      { details: { history: entry } },
    );
  out.result(
    entry.kind === 'rollback'
      ? `rolled back to ${entry.toVersion}`
      : `${entry.toVersion} committed (was ${entry.fromVersion ?? 'nothing'})`,
    { history: entry },
  );
  return 0;
}

function rootOption(c: Command): Command {
  return c.option('--root <dir>', 'box root folder', '/').option('--json', 'print JSON');
}

export function registerUpdate(program: Command): void {
  const update = program
    .command('update')
    .description('Update the box: install, check, download, apply, rollback, status');

  rootOption(update.command('install').argument('<bundle>', 'release bundle (.drydock)'))
    .description('Offline: verify, stage, snapshot, apply, gate on health, commit or roll back')
    .action(
      action(async (out, bundle: string, opts: RootOpts) =>
        withBox(out, opts, async (box) => finish(out, await box.install(ACTOR, bundle))),
      ),
    );

  rootOption(update.command('check'))
    .description('Online: refresh the channel (TUF) and list the releases this box can take')
    .action(
      action(async (out, opts: RootOpts) =>
        withBox(out, opts, async (box) => {
          const list = await box.check(ACTOR);
          const lines = list.map(
            (r) => `${r.version}${r.installable ? '' : ` (not installable: ${r.reason})`}`,
          );
          out.result(list.length ? `available: ${lines.join(', ')}` : 'no newer release on the channel', {
            available: list,
          });
          return 0;
        }),
      ),
    );

  rootOption(update.command('download'))
    // not --version: that is the program's own flag
    .option('--release <version>', 'the release to fetch (default: the newest installable)')
    .description('Online: fetch the release blobs (resuming) and stage them')
    .action(
      action(async (out, opts: RootOpts & { release?: string }) =>
        withBox(out, opts, async (box) => {
          await box.download(ACTOR, opts.release);
          const s = await box.status();
          out.result(`staged ${s.target?.version}`, { state: s.state, target: s.target });
          return 0;
        }),
      ),
    );

  rootOption(update.command('apply'))
    .description('Apply the staged release: snapshot, apply, gate on health, commit or roll back')
    .action(
      action(async (out, opts: RootOpts) =>
        withBox(out, opts, async (box) => finish(out, await box.apply(ACTOR))),
      ),
    );

  rootOption(update.command('rollback'))
    .description(
      'Go back to the retained previous release; says first what it does with the data (default: what the release declares)',
    )
    .option(
      '--restore-data',
      'put back the data snapshot taken before the running release (writes since are lost)',
    )
    .option('--keep-data', 'keep the current data')
    .option('--dry-run', 'only say what the rollback would do')
    .action(
      action(
        async (out, opts: RootOpts & { restoreData?: boolean; keepData?: boolean; dryRun?: boolean }) => {
          if (opts.restoreData && opts.keepData)
            throw new DrydockError('USAGE', '--restore-data and --keep-data exclude each other');
          return withBox(out, opts, async (box) => {
            const plan = await box.rollbackPlan();
            if (!plan)
              throw new DrydockError('NO_PREVIOUS_RELEASE', 'no previous release is retained to go back to');
            const data = opts.restoreData ? 'restore' : opts.keepData ? 'keep' : plan.data.default;
            const line = `rollback ${plan.from} → ${plan.to}: ${plan.data.words[data]}${opts.restoreData || opts.keepData ? '' : " (the release's default)"}`;
            if (opts.dryRun) {
              out.result(line, { plan, data });
              return 0;
            }
            out.info(line);
            return finish(out, await box.rollback(ACTOR, { data }), 'rolled-back');
          });
        },
      ),
    );

  rootOption(update.command('status'))
    .description('What the box runs, the update state and the history')
    .action(
      action(async (out, opts: RootOpts) =>
        withBox(out, opts, async (box) => {
          const s = await box.status();
          const lines = [
            `running: ${s.running ? `${s.running.name} ${s.running.version}` : 'nothing'}${s.previous ? ` (previous ${s.previous.version})` : ''}`,
            `state: ${s.state}${s.target ? ` ${s.target.version}` : ''}${s.lastError ? ` — ${s.lastError.message}` : ''}`,
            ...s.workloads.map((w) => `  ${w.kind} ${w.namespace}/${w.name}: ${w.message}`),
            'history:',
            ...s.history
              .slice(0, 10)
              .map(
                (h) =>
                  `  ${h.startedAt} ${h.kind} ${h.fromVersion ?? '-'} → ${h.toVersion}: ${h.outcome}${h.automatic ? ' (automatic)' : ''}${h.reason ? ` — ${h.reason}` : ''}`,
              ),
          ];
          out.result(lines.join('\n'), s as unknown as Record<string, unknown>);
          return 0;
        }),
      ),
    );
}
