// drydock keys init|rotate: the vendor's TUF key set (see updater/tuf).
import type { Command } from 'commander';
import { DrydockError } from '../core/index.ts';
import { type KeyAccessFlags, keyAccessFrom, readPassphrase, withKeyAccess } from './keyaccess.ts';
import { action } from './run.ts';

// the part is loaded when the command runs, so other commands do not pay for it

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('TUF signing keys (Ed25519) and root metadata');
  withKeyAccess(
    keys
      .command('init')
      .description('create root, targets, snapshot and timestamp keys and DIR/root.json (version 1)')
      .requiredOption('--dir <dir>', 'key folder (must not hold a key set yet)')
      .option('--threshold <n>', 'keys per role and signatures required', '1')
      .option('--unencrypted', 'write the private keys without a passphrase (tests and demos only)')
      .option('--json', 'print the result as JSON'),
    false,
  ).action(
    action(async (out, opts: { dir: string; threshold: string; unencrypted?: boolean } & KeyAccessFlags) => {
      const threshold = /^\d+$/.test(opts.threshold) ? Number(opts.threshold) : Number.NaN;
      const passphrase = readPassphrase(opts);
      if (passphrase && opts.unencrypted)
        throw new DrydockError('USAGE', '--unencrypted and a passphrase exclude each other');
      if (!passphrase && !opts.unencrypted)
        throw new DrydockError(
          'KEY_PASSPHRASE_MISSING',
          'private keys are encrypted: give a passphrase with --passphrase-file FILE or DRYDOCK_KEY_PASSPHRASE (or --unencrypted for throw-away keys)',
        );
      const r = await (await import('../updater/tuf/index.ts')).initKeys({
        dir: opts.dir,
        threshold,
        passphrase,
      });
      out.result(
        `keys created in ${opts.dir}${r.encrypted ? ' (encrypted)' : ' (UNENCRYPTED)'}; trusted root: ${r.rootPath} (version 1, threshold ${threshold})`,
        {
          rootPath: r.rootPath,
          version: 1,
          threshold,
          encrypted: r.encrypted,
          keyIds: r.keyIds,
        },
      );
      return 0;
    }),
  );
  withKeyAccess(
    keys
      .command('rotate')
      .description('new keys for one role: a new root version signed by the old and the new root keys')
      .requiredOption('--dir <dir>', 'key folder')
      .requiredOption('--role <role>', 'root, targets, snapshot or timestamp')
      .option('--json', 'print the result as JSON'),
  ).action(
    action(async (out, opts: { dir: string; role: string } & KeyAccessFlags) => {
      const r = await (await import('../updater/tuf/index.ts')).rotateKeys({
        dir: opts.dir,
        role: opts.role,
        ...keyAccessFrom(opts),
      });
      out.result(`rotated ${opts.role} keys; root is now version ${r.version} (${r.rootPath})`, {
        rootPath: r.rootPath,
        version: r.version,
        role: opts.role,
        keyIds: r.keyIds,
      });
      return 0;
    }),
  );
}
