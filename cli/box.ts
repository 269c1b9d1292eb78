// drydock box …: set up a box root (first install, as the image build runs it).
import type { Command } from 'commander';
import { DrydockError } from '../core/index.ts';
import { initBox } from '../updater/engine/index.ts';
import { action } from './run.ts';

export function registerBox(program: Command): void {
  const box = program.command('box').description('Set up an appliance box root');
  box
    .command('init')
    .description('First install: trust a root.json, write config.yaml and install the first release')
    .requiredOption('--root <dir>', 'box root folder (/ on the appliance)', '/')
    .requiredOption('--trust <root.json>', 'the TUF root.json this box trusts')
    .requiredOption('--release <bundle>', 'the first release bundle (.drydock)')
    .option('--cluster <kind>', 'k3s | standin (a simulated cluster for tests and the demo)', 'k3s')
    .option('--admin-password-file <file>', 'first admin password, handed to the updater service')
    .option('--json', 'print JSON')
    .action(
      action(
        async (
          out,
          opts: { root: string; trust: string; release: string; cluster: string; adminPasswordFile?: string },
        ) => {
          if (opts.cluster !== 'k3s' && opts.cluster !== 'standin')
            throw new DrydockError('USAGE', `--cluster must be k3s or standin, not "${opts.cluster}"`);
          const entry = await initBox({
            root: opts.root,
            trustPath: opts.trust,
            bundlePath: opts.release,
            cluster: opts.cluster,
            ...(opts.adminPasswordFile ? { adminPasswordFile: opts.adminPasswordFile } : {}),
          });
          out.result(`box initialised at ${opts.root}: running ${entry.toVersion}`, {
            root: opts.root,
            running: { version: entry.toVersion },
            history: entry,
          });
          return 0;
        },
      ),
    );
}
