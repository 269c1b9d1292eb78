import type { Command } from 'commander';
import { loadBackendRenderer } from '../appliance/index.ts';
import { action } from './run.ts';

export function registerBackend(program: Command): void {
  const g = program
    .command('backend')
    .description('Render the backend (k3s manifests for the box, a Helm chart for a cluster)');
  g.command('render')
    .description('Render the backend source into k3s manifests (and a Helm chart with --chart)')
    .requiredOption(
      '--out <dir>',
      'folder for backend.yaml, traefik-config.yaml, generated-secrets.json, images.json, health.json',
    )
    .option(
      '--source <path>',
      'backend source: a module file or folder exporting `backend` (default: the reference portal)',
    )
    .option('--chart <dir>', 'also write a Helm chart for an existing multi-node cluster here')
    .option('--json', 'one JSON result line')
    .action(
      action(async (out, opts: { out: string; source?: string; chart?: string }) => {
        const R = await loadBackendRenderer();
        const source = await R.loadSource(opts.source);
        const { files, rendered } = await R.renderBoxFiles(source);
        const written = await R.writeFiles(opts.out, files);
        if (opts.chart) written.push(...(await R.writeFiles(opts.chart, await R.renderChartFiles(source))));
        for (const p of rendered.placeholders)
          out.info(
            `warning: image "${p}" has a placeholder digest in the lock file; replace it before shipping`,
          );
        out.result(
          `rendered ${source.name} ${source.version}: ${rendered.objects.length} objects, ${rendered.images.length} images into ${opts.out}${opts.chart ? `, chart into ${opts.chart}` : ''}`,
          {
            name: source.name,
            version: source.version,
            objects: rendered.objects.length,
            images: rendered.images.map((i) => i.pinned),
            placeholders: rendered.placeholders,
            files: written,
          },
        );
        return 0;
      }),
    );
  g.command('plugin-image')
    .description('Build the Grafana plugin carrier image (busybox + unpacked plugins) into an OCI layout')
    .requiredOption('--out <layout>', 'OCI image-layout folder to write')
    .requiredOption('--plugin <dir...>', 'unpacked plugin folder(s), each with plugin.json')
    .option('--tag <tag>', 'org.opencontainers.image.ref.name in the layout', 'grafana-plugins')
    .option('--busybox <path>', "Debian's busybox-static binary", '/bin/busybox')
    .option('--json', 'one JSON result line')
    .action(
      action(async (out, o: { out: string; plugin: string[]; tag: string; busybox: string }) => {
        const R = await loadBackendRenderer();
        const r = await R.buildPluginImage({
          pluginDirs: o.plugin,
          out: o.out,
          tag: o.tag,
          busybox: o.busybox,
        });
        out.result(
          `${o.out}:${r.tag} ${r.digest} (${r.plugins.join(', ')}); put this digest in images.lock.yaml`,
          r,
        );
        return 0;
      }),
    );
}
