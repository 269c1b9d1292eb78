// drydock box …: set up a box root (first install, as the image build runs it).
import type { Command } from 'commander';
import { DrydockError } from '../core/index.ts';
import { CLUSTER_KINDS } from '../updater/cluster/api.ts';
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
    .option(
      '--cluster <kind>',
      'k3s (the appliance) | kubernetes (an existing cluster, with --kubeconfig) | standin (a simulated cluster for tests and the demo)',
      'k3s',
    )
    .option(
      '--kubeconfig <file>',
      'cluster kubernetes: the kubeconfig to reach it (copied into the box, 0600)',
    )
    .option('--kubectl <path>', 'cluster kubernetes: the kubectl program (default: kubectl on PATH)')
    .option(
      '--containerd-socket <path>',
      "cluster kubernetes: the node's containerd socket, to import images without a registry",
    )
    .option('--admin-password-file <file>', 'first admin password, handed to the updater service')
    .option('--json', 'print JSON')
    .action(
      action(
        async (
          out,
          opts: {
            root: string;
            trust: string;
            release: string;
            cluster: string;
            adminPasswordFile?: string;
            kubeconfig?: string;
            kubectl?: string;
            containerdSocket?: string;
          },
        ) => {
          const cluster = CLUSTER_KINDS.find((k) => k === opts.cluster);
          if (!cluster)
            throw new DrydockError(
              'USAGE',
              `--cluster must be one of ${CLUSTER_KINDS.join(', ')}, not "${opts.cluster}"`,
            );
          if (cluster === 'kubernetes' && !opts.kubeconfig)
            throw new DrydockError('USAGE', '--cluster kubernetes needs --kubeconfig FILE');
          if (cluster !== 'kubernetes' && (opts.kubeconfig || opts.kubectl || opts.containerdSocket))
            throw new DrydockError(
              'USAGE',
              '--kubeconfig, --kubectl and --containerd-socket are for --cluster kubernetes',
            );
          const entry = await initBox({
            root: opts.root,
            trustPath: opts.trust,
            bundlePath: opts.release,
            cluster,
            ...(opts.kubeconfig
              ? {
                  kubernetes: {
                    kubeconfigFile: opts.kubeconfig,
                    ...(opts.kubectl ? { kubectl: opts.kubectl } : {}),
                    ...(opts.containerdSocket ? { containerdSocket: opts.containerdSocket } : {}),
                  },
                }
              : {}),
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
