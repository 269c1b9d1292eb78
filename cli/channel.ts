// drydock channel publish|refresh: the static TUF repository boxes update from (see updater/channel).
import type { Command } from 'commander';
import { type KeyAccessFlags, keyAccessFrom, withKeyAccess } from './keyaccess.ts';
import { action } from './run.ts';

// the part is loaded when the command runs, so other commands do not pay for it

export function registerChannel(program: Command): void {
  const channel = program.command('channel').description('publish releases to a static TUF repository');
  withKeyAccess(
    channel
      .command('publish')
      .description('verify a bundle and add its release to a channel (consistent-snapshot TUF repository)')
      .argument('<file>', 'bundle (.drydock)')
      .requiredOption('--repo <dir>', 'repository folder (serve it with any web server or S3)')
      .requiredOption('--keys <dir>', 'key folder')
      .option('--channel <name>', "channel name (default: the release's channel, usually stable)")
      .option('--json', 'print the result as JSON'),
  ).action(
    action(
      async (out, file: string, opts: { repo: string; keys: string; channel?: string } & KeyAccessFlags) => {
        const r = await (await import('../updater/channel/index.ts')).publishBundle({
          ...keyAccessFrom(opts),
          bundlePath: file,
          repoDir: opts.repo,
          keysDir: opts.keys,
          ...(opts.channel ? { channel: opts.channel } : {}),
        });
        out.result(
          `published ${r.release.name} ${r.release.version} on ${r.channel} (targets v${r.targetsVersion}, timestamp v${r.timestampVersion})`,
          {
            name: r.release.name,
            version: r.release.version,
            channel: r.channel,
            targetsVersion: r.targetsVersion,
            timestampVersion: r.timestampVersion,
          },
        );
        return 0;
      },
    ),
  );
  withKeyAccess(
    channel
      .command('refresh')
      .description('re-sign snapshot and timestamp (and targets after a key rotation) before they expire')
      .requiredOption('--repo <dir>', 'repository folder')
      .requiredOption('--keys <dir>', 'key folder')
      .option('--json', 'print the result as JSON'),
  ).action(
    action(async (out, opts: { repo: string; keys: string } & KeyAccessFlags) => {
      const r = await (await import('../updater/channel/index.ts')).refreshChannel({
        ...keyAccessFrom(opts),
        repoDir: opts.repo,
        keysDir: opts.keys,
      });
      out.result(
        `refreshed ${opts.repo}: timestamp v${r.timestampVersion}, snapshot v${r.snapshotVersion}${r.resignedTargets ? `, targets re-signed (v${r.targetsVersion})` : ''}`,
        { ...r },
      );
      return 0;
    }),
  );
}
