import type { Command } from 'commander';
import {
  engineHealth,
  runFirstboot,
  SETTINGS,
  SOURCE_ORDER,
  type SourceName,
  signalStack,
  writeBanner,
} from '../appliance/index.ts';
import { DrydockError } from '../core/index.ts';
import { action } from './run.ts';

export function registerFirstboot(program: Command): void {
  const g = program
    .command('firstboot')
    .description("The appliance's first boot: settings, network, password, TLS, data disk");
  g.command('run')
    .description('Read the settings (OVF environment, EC2 IMDSv2, local file) and apply them once')
    .option('--root <dir>', 'box root', '/')
    .option('--source <source>', `only this source: ${SOURCE_ORDER.join('|')}`)
    .option('--file <path>', 'settings file (default <root>/etc/drydock/firstboot.yaml)')
    .option('--imds-url <url>', 'instance metadata endpoint', 'http://169.254.169.254')
    .option('--imds-wait <seconds>', 'retry instance metadata this long while the network comes up', '30')
    .option('--json', 'one JSON result line')
    .action(
      action(
        async (
          out,
          o: { root: string; source?: string; file?: string; imdsUrl: string; imdsWait: string },
        ) => {
          if (o.source && !(SOURCE_ORDER as readonly string[]).includes(o.source))
            throw new DrydockError('USAGE', `--source must be one of ${SOURCE_ORDER.join(', ')}`);
          const wait = Number(o.imdsWait);
          if (!Number.isFinite(wait) || wait < 0 || wait > 600)
            throw new DrydockError('USAGE', '--imds-wait must be a number of seconds from 0 to 600');
          const r = await runFirstboot({
            root: o.root,
            source: o.source as SourceName | undefined,
            file: o.file,
            imdsUrl: o.imdsUrl,
            imdsWaitMs: wait * 1000,
            log: (l) => out.info(l),
          });
          for (const p of r.problems) out.info(`refused ${p.key}: ${p.message}`);
          for (const n of r.notes) out.info(n);
          // refused settings do not fail the boot: the box comes up with safe defaults and says why
          out.result(
            r.status === 'already-done'
              ? 'first boot ran already; nothing changed'
              : `first boot from ${r.source}: applied ${r.applied.join(', ') || 'nothing'}${r.problems.length ? `; ${r.problems.length} setting(s) refused` : ''}`,
            { ...r },
          );
          return 0;
        },
      ),
    );
  g.command('banner')
    .description('Regenerate the console banner (/etc/issue.d) with the URL and how to sign in')
    .option('--root <dir>', 'box root', '/')
    .option('--json', 'one JSON result line')
    .action(
      action(async (out, o: { root: string }) => {
        const text = await writeBanner(o.root);
        out.result(text.trimEnd(), { banner: text });
        return 0;
      }),
    );
  g.command('signal')
    .description('AWS: signal the CloudFormation stack once the backend is healthy (no-op elsewhere)')
    .option('--root <dir>', 'box root', '/')
    .option('--timeout <seconds>', 'how long to wait for health before signalling FAILURE', '1500')
    .option('--json', 'one JSON result line')
    .action(
      action(async (out, o: { root: string; timeout: string }) => {
        const seconds = Number(o.timeout);
        if (!Number.isFinite(seconds) || seconds < 0)
          throw new DrydockError('USAGE', '--timeout must be a number of seconds');
        const r = await signalStack({
          root: o.root,
          health: engineHealth(o.root),
          timeoutMs: seconds * 1000,
          log: (l) => out.info(l),
        });
        out.result(r.signalled ? `signalled ${r.status}: ${r.reason}` : r.reason, { ...r });
        return 0;
      }),
    );
  g.command('settings')
    .description('List the first-boot settings (the keys of the OVF properties and the EC2 user data)')
    .option('--json', 'one JSON result line')
    .action(
      action(async (out) => {
        const list = SETTINGS.map(({ validate: _v, ...s }) => s);
        out.result(
          list.map((s) => `${s.key.padEnd(15)} ${s.label}${s.password ? ' (password)' : ''}`).join('\n'),
          {
            settings: list,
          },
        );
        return 0;
      }),
    );
}
