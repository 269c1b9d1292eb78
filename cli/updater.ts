// `drydock updater …`: the on-box service (serve) and its two small admin helpers (password, cert).
// The service is imported when a command runs, so other commands do not load fastify and friends.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DrydockError } from '../core/index.ts';
import { action } from './run.ts';

function bytes(text: string): number {
  const m = /^(\d+)([KMG]i?B?)?$/i.exec(text.trim());
  if (!m) throw new DrydockError('USAGE', `"${text}" is not a size (e.g. 8GiB, 500MiB, 1048576)`);
  const unit = (m[2] ?? '').toUpperCase()[0];
  const mult = unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1;
  return Number(m[1]) * mult;
}

export function registerUpdater(program: Command): void {
  const updater = program
    .command('updater')
    .description('The on-box update service (HTTPS API and admin page)');

  updater
    .command('serve')
    .description('Serve the update API and admin page over HTTPS (the appliance systemd service)')
    .requiredOption('--root <dir>', 'box root (/ on the appliance)')
    .option('--listen <host:port>', 'HTTPS address', '0.0.0.0:443')
    .option(
      '--http-redirect <host:port|none>',
      'plain-HTTP port that only redirects to HTTPS (default: port 80 of the listen host)',
    )
    .option('--web <dir>', 'built admin page (default: web/dist of this installation)')
    .option('--upload-limit <size>', 'largest offline bundle accepted', '8GiB')
    .option('--no-schedule', 'no automatic checks (the API still works)')
    .option('--json', 'one JSON line when listening (logs stay pino JSON on stdout)')
    .action(
      action(
        async (
          out,
          opts: {
            root: string;
            listen: string;
            httpRedirect?: string;
            web?: string;
            uploadLimit: string;
            schedule: boolean;
          },
        ) => {
          const { parseEndpoint, startService } = await import('../updater/service/index.ts');
          const listen = parseEndpoint(opts.listen, 443);
          const redirect =
            opts.httpRedirect === 'none'
              ? null
              : parseEndpoint(
                  opts.httpRedirect ?? `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:80`,
                  80,
                );
          const svc = await startService({
            root: opts.root,
            listen,
            redirect,
            webDir: opts.web ? resolve(opts.web) : undefined,
            limits: { uploadBytes: bytes(opts.uploadLimit) },
            schedule: opts.schedule,
          });
          out.result(`listening on ${svc.url}${svc.redirectUrl ? ` (redirect ${svc.redirectUrl})` : ''}`, {
            url: svc.url,
            redirect: svc.redirectUrl,
          });
          await new Promise<void>((done) => {
            const stop = () => {
              svc.log.info('stopping');
              void svc.close().then(done, done);
            };
            process.once('SIGTERM', stop);
            process.once('SIGINT', stop);
          });
          return 0;
        },
      ),
    );

  updater
    .command('password')
    .description(
      'Set the admin password (recovery from the console, or before the first start); ends every session and every sign-in delay',
    )
    .requiredOption('--root <dir>', 'box root')
    .option('--password-file <file>', 'file holding the password (a trailing newline is dropped)')
    .option('--must-change', 'force a change at the next sign-in')
    .option('--json', 'JSON output')
    .action(
      action(async (out, opts: { root: string; passwordFile?: string; mustChange?: boolean }) => {
        const { consumeInitialAdmin, openServiceDatabase, setAdminPassword } = await import(
          '../updater/service/index.ts'
        );
        const db = openServiceDatabase(resolve(opts.root));
        try {
          if (!opts.passwordFile) {
            const r = await consumeInitialAdmin(db, resolve(opts.root));
            if (!r.consumed)
              throw new DrydockError('USAGE', 'give --password-file (no initial-admin.json is waiting)');
            out.result(`admin password set from initial-admin.json (${r.source})`, { source: r.source });
            return 0;
          }
          const password = (
            await readFile(opts.passwordFile, 'utf8').catch(() => {
              throw new DrydockError('NOT_FOUND', `${opts.passwordFile} is not a readable file`);
            })
          ).replace(/\r?\n$/, '');
          await setAdminPassword(db, password, { mustChange: Boolean(opts.mustChange), source: 'file' });
          out.result('admin password set; every session ended', { mustChange: Boolean(opts.mustChange) });
          return 0;
        } finally {
          db.close();
        }
      }),
    );

  updater
    .command('unlock')
    .description(
      "End the sign-in delays of the admin account from every address (from the appliance's console); the password stays",
    )
    .requiredOption('--root <dir>', 'box root')
    .option('--json', 'JSON output')
    .action(
      action(async (out, opts: { root: string }) => {
        const { ADMIN_USER, endLoginDelays, openServiceDatabase } = await import(
          '../updater/service/index.ts'
        );
        const db = openServiceDatabase(resolve(opts.root));
        try {
          const ended = endLoginDelays(db, ADMIN_USER);
          out.result(`sign-in delays of ${ADMIN_USER} ended (${ended} address${ended === 1 ? '' : 'es'})`, {
            ended,
          });
          return 0;
        } finally {
          db.close();
        }
      }),
    );

  updater
    .command('cert')
    .description('Make the self-signed certificate unless a valid one covers the names (first boot)')
    .requiredOption('--root <dir>', 'box root')
    .option('--name <dns...>', 'DNS names for the SAN', [])
    .option('--ip <address...>', 'IP addresses for the SAN', [])
    .option('--json', 'JSON output')
    .action(
      action(async (out, opts: { root: string; name: string[]; ip: string[] }) => {
        const { ensureCertificate } = await import('../updater/service/index.ts');
        const dir = join(resolve(opts.root), 'etc', 'drydock', 'tls');
        const r = await ensureCertificate({ dir, names: opts.name, ips: opts.ip });
        out.result(
          `${r.created ? 'made' : 'kept'} ${r.certPath} (${[...r.info.names, ...r.info.ips].join(', ')})`,
          {
            created: r.created,
            certPath: r.certPath,
            keyPath: r.keyPath,
            info: r.info,
          },
        );
        return 0;
      }),
    );
}
