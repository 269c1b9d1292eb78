// drydock release build|verify: the signed release bundle (see updater/bundle).
import type { Command } from 'commander';
import { DrydockError, formatBytes, type Output } from '../core/index.ts';
import { type KeyAccessFlags, keyAccessFrom } from './keyaccess.ts';
import { action } from './run.ts';

// the part is loaded when the command runs, so other commands do not pay for it

/** at most one progress event per percent: --json output stays readable for multi-GB bundles */
function throttled(out: Output, step: string): (p: { done: number; total: number }) => void {
  let last = -1;
  return (p) => {
    const pct = p.total ? Math.floor((100 * p.done) / p.total) : 0;
    if (pct === last && p.done !== p.total) return;
    last = pct;
    out.progress(step, p.done, p.total);
  };
}

export function registerRelease(program: Command): void {
  const release = program.command('release').description('build and verify signed release bundles');
  release
    .command('build')
    .description('build a signed bundle (.drydock) from a release spec')
    .requiredOption('--spec <file>', 'release spec (YAML)')
    .requiredOption('--keys <dir>', 'key folder made by "drydock keys init"')
    .requiredOption('--out <file>', 'bundle to write (FILE.drydock)')
    .option('--delta-from <old>', 'older bundle: leave out the blobs its release already has')
    .option('--expires-days <n>', 'how long the signatures in the bundle stay valid', '365')
    .option('--json', 'JSON events and result (for CI)')
    .option('--passphrase-file <file>', 'file holding the key passphrase (else DRYDOCK_KEY_PASSPHRASE)')
    .option('--signer <cmd>', 'external signer for keys not in the folder (see drydock keys --help)')
    .action(
      action(
        async (
          out,
          opts: {
            spec: string;
            keys: string;
            out: string;
            deltaFrom?: string;
            expiresDays: string;
          } & KeyAccessFlags,
        ) => {
          const expiresDays = Number(opts.expiresDays);
          if (!Number.isInteger(expiresDays) || expiresDays < 1 || expiresDays > 3650)
            throw new DrydockError('USAGE', `--expires-days must be a whole number of days from 1 to 3650`);
          const r = await (await import('../updater/bundle/index.ts')).buildBundle({
            expiresDays,
            specPath: opts.spec,
            keysDir: opts.keys,
            keyAccess: keyAccessFrom(opts),
            outPath: opts.out,
            ...(opts.deltaFrom ? { deltaFrom: opts.deltaFrom } : {}),
            onProgress: throttled(out, 'writing blobs'),
          });
          const delta = opts.deltaFrom ? `, delta: ${r.skippedBlobs} blobs left out` : '';
          out.result(
            `built ${opts.out}: ${r.release.name} ${r.release.version}, ${r.blobs} blobs, ${formatBytes(r.bytes)}${delta}`,
            {
              path: opts.out,
              name: r.release.name,
              version: r.release.version,
              bytes: r.bytes,
              blobs: r.blobs,
              skippedBlobs: r.skippedBlobs,
            },
          );
          return 0;
        },
      ),
    );
  release
    .command('verify')
    .description('check a bundle: archive, signatures through the root chain, expiry, every blob')
    .argument('<file>', 'bundle (.drydock)')
    .requiredOption('--root <root.json>', 'the trusted root metadata')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (out, file: string, opts: { root: string }) => {
        // blobs: null → hashes only; nothing is written anywhere
        const r = await (await import('../updater/bundle/index.ts')).readBundle(file, {
          trustedRoot: opts.root,
          blobs: null,
          onProgress: throttled(out, 'verifying'),
        });
        const delta = r.omitted.length ? `, ${r.omitted.length} left to the box (delta)` : '';
        const rotated = r.roots.length ? `, carries ${r.roots.length} newer root version(s)` : '';
        out.result(
          `OK ${r.release.name} ${r.release.version} (${r.release.channel}): ${r.verified} blobs verified${delta}${rotated}`,
          {
            name: r.release.name,
            version: r.release.version,
            channel: r.release.channel,
            verified: r.verified,
            omitted: r.omitted.length,
            newerRoots: r.roots.length,
            bytes: r.bytes,
          },
        );
        return 0;
      }),
    );
}
