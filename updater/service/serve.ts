// `drydock updater serve`: opens the box (engine), the service tables and the certificate, then
// listens on HTTPS (and a plain-HTTP redirect), runs the schedule, and stops cleanly on a signal.
import type { Server } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { DrydockError, type Exec } from '../../core/index.ts';
import type { Box } from '../engine/api.ts';
import type { Context, Limits, RouteRecord } from './context.ts';
import { type Db, type Migrate, type OpenDatabase, openServiceDatabase, setMeta } from './db.ts';
import { backupDatabase, recoverDatabase } from './db-health.ts';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.ts';
import { createLogger, LogRing } from './logger.ts';
import { consumeInitialAdmin, getUser } from './passwords.ts';
import { boxSeed } from './policy.ts';
import { createRedirectServer } from './redirect.ts';
import { Scheduler } from './scheduler.ts';
import { createService } from './server.ts';
import { defaultExec, ensureCertificate } from './tls.ts';
import { cleanSpool } from './upload.ts';

export interface Endpoint {
  host: string;
  port: number;
}

export function parseEndpoint(text: string, defaultPort: number): Endpoint {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]*))(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) throw new DrydockError('USAGE', `"${text}" is not HOST:PORT`);
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new DrydockError('USAGE', `port of "${text}" is not 0-65535`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** The engine module (updater/engine), loaded so the service runs against the real engine. */
interface EngineModule {
  openBox(opts: {
    root: string;
    log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  }): Promise<Box>;
  openDatabase?: OpenDatabase;
  migrate?: Migrate;
}

async function loadEngine(): Promise<EngineModule> {
  const mod = (await import('../engine/index.ts')) as Partial<EngineModule>;
  if (typeof mod.openBox !== 'function')
    throw new DrydockError(
      'INTERNAL',
      'the update engine (updater/engine openBox) is not available in this build',
    );
  return mod as EngineModule;
}

function listenError(err: unknown, at: Endpoint): DrydockError {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${at.host}:${at.port}`;
  if (code === 'EADDRINUSE')
    return new DrydockError('NETWORK_FAILED', `cannot listen on ${where}: the address is in use`);
  if (code === 'EACCES')
    return new DrydockError(
      'NETWORK_FAILED',
      `cannot listen on ${where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`,
    );
  if (code === 'EADDRNOTAVAIL')
    return new DrydockError('NETWORK_FAILED', `cannot listen on ${where}: no such address on this machine`);
  return new DrydockError('NETWORK_FAILED', `cannot listen on ${where}: ${(err as Error).message}`);
}

const DEFAULT_WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web', 'dist');

export interface RunningService {
  app: FastifyInstance;
  context: Context;
  /** every route registered, with who may call it */
  routes: RouteRecord[];
  url: string;
  redirect: Server | null;
  redirectUrl: string | null;
  scheduler: Scheduler | null;
  db: Db;
  box: Box;
  log: Logger;
  close(): Promise<void>;
}

function boxAddresses(): { names: string[]; ips: string[] } {
  const ips = new Set<string>(['127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (!a.internal && !a.address.startsWith('fe80')) ips.add(a.address);
  const h = hostname();
  const names = new Set(['localhost']);
  if (/^[A-Za-z0-9.-]+$/.test(h)) names.add(h);
  return { names: [...names], ips: [...ips] };
}

export async function startService(opts: {
  root: string;
  listen: Endpoint;
  /** null: no redirect port */
  redirect: Endpoint | null;
  box?: Box;
  engine?: { openDatabase?: OpenDatabase; migrate?: Migrate };
  webDir?: string | null;
  limits?: Partial<Limits>;
  logger?: Logger;
  logStdout?: NodeJS.WritableStream | null;
  schedule?: boolean;
  exec?: Exec;
  now?: () => number;
}): Promise<RunningService> {
  const root = resolve(opts.root);
  // before anything is opened or cleaned: a second service must change nothing of the first's
  const instance = await acquireInstanceLock(root);
  try {
    return await startLocked(root, opts, instance);
  } catch (err) {
    await instance.release();
    throw err;
  }
}

async function startLocked(
  root: string,
  opts: Parameters<typeof startService>[0],
  instance: InstanceLock,
): Promise<RunningService> {
  const ring = new LogRing();
  const log = opts.logger ?? createLogger({ ring, stdout: opts.logStdout });
  const now = opts.now ?? Date.now;
  // before the engine opens it: a damaged state.db is swapped for the last good copy
  const recovery = recoverDatabase(root, now);
  if (recovery.state !== 'ok')
    log.error(
      { problem: recovery.problem, movedTo: recovery.movedTo },
      recovery.state === 'restored'
        ? 'state.db was damaged: moved aside and restored from the last good copy'
        : 'state.db was damaged and no good copy exists: moved aside, starting with an empty database',
    );
  let box = opts.box;
  let engine = opts.engine;
  if (!box) {
    const mod = await loadEngine();
    box = await mod.openBox({ root, log: (level, message) => log[level]({ part: 'engine' }, message) });
    engine ??= { openDatabase: mod.openDatabase, migrate: mod.migrate };
  }
  const db = openServiceDatabase(root, engine ?? {});
  // the service's own connection waits little for a lock: a request gets 503 DATABASE_BUSY at once
  // instead of the event loop stopping for the engine's busy timeout
  db.pragma('busy_timeout = 250');
  if (recovery.state !== 'ok') {
    const notice =
      recovery.state === 'restored'
        ? `The box database was damaged at start (${recovery.problem}); the last good copy was restored. Changes made after that copy was taken may be missing. The damaged file was kept as ${recovery.movedTo}.`
        : `The box database was damaged at start (${recovery.problem}) and there was no good copy; it was kept as ${recovery.movedTo} and the box started with an empty database.`;
    setMeta(db, 'notice.database', notice);
    await box
      .recordAudit({ user: 'system', from: 'local' }, 'database.recovered', notice, 'error')
      .catch(() => {});
  }

  try {
    const r = await consumeInitialAdmin(db, root);
    if (r.consumed) {
      log.info(
        { source: r.source, mustChange: r.mustChange },
        'first admin password taken from initial-admin.json',
      );
      await box.recordAudit(
        { user: 'system', from: 'local' },
        'password.initial',
        `first admin password from ${r.source}`,
        'ok',
      );
    }
  } catch (err) {
    // the service still starts: the file stays for whoever wrote it to fix
    log.error({ err: (err as DrydockError).toJSON?.() ?? String(err) }, 'initial-admin.json refused');
  }
  if (!getUser(db, 'admin'))
    log.warn(
      'no admin password is set: sign-in is impossible until one is (drydock updater password --root DIR --password-file FILE)',
    );
  // a good copy to come back to (after the first password is in): at start, hourly and at stop
  await backupDatabase(db, root).catch((err) =>
    log.warn({ err: String(err) }, 'could not write the database backup'),
  );
  const backupTimer = setInterval(() => {
    backupDatabase(db, root).catch((err) =>
      log.warn({ err: String(err) }, 'could not write the database backup'),
    );
  }, 3_600_000);
  backupTimer.unref();
  const tlsDir = join(root, 'etc', 'drydock', 'tls');
  const { names, ips } = boxAddresses();
  const cert = await ensureCertificate({ dir: tlsDir, names, ips, exec: opts.exec ?? defaultExec, now });
  if (cert.created)
    log.info({ names: cert.info.names, ips: cert.info.ips }, 'made a self-signed certificate');
  await cleanSpool(root);

  let scheduler: Scheduler | null = null;
  const { app, context, routes } = await createService({
    root,
    box,
    db,
    tlsDir,
    webDir: opts.webDir === undefined ? DEFAULT_WEB_DIR : opts.webDir,
    logger: log,
    ring,
    now,
    limits: opts.limits,
    exec: opts.exec ?? defaultExec,
    onSettings: (s) => scheduler?.configure(s),
  });
  if (opts.schedule !== false) {
    scheduler = new Scheduler({
      box,
      seed: boxSeed(db),
      now,
      log,
      runExclusive: (w, fn) => context.exclusive(w, fn),
    });
    scheduler.configure(await box.getSettings());
  }
  let address: string;
  let redirect: Server | null = null;
  let redirectUrl: string | null = null;
  try {
    address = await app.listen({ host: opts.listen.host, port: opts.listen.port }).catch((err) => {
      throw listenError(err, opts.listen);
    });
    if (opts.redirect) {
      const port = (app.server.address() as { port: number }).port;
      const r = createRedirectServer(opts.listen.port === 0 ? port : opts.listen.port);
      redirect = r;
      await new Promise<void>((res, rej) => {
        r.once('error', (err) => rej(listenError(err, opts.redirect!)));
        r.listen(opts.redirect!.port, opts.redirect!.host, () => res());
      });
      const ra = r.address() as { address: string; port: number };
      redirectUrl = `http://${ra.address.includes(':') ? `[${ra.address}]` : ra.address}:${ra.port}`;
    }
  } catch (err) {
    // nothing half-started stays behind
    scheduler?.stop();
    redirect?.close();
    await app.close();
    await box.close();
    db.close();
    throw err;
  }
  log.info({ url: address, redirect: redirectUrl }, 'drydock updater listening');
  // a box runs for years: the self-signed certificate is made again before it ends, without a restart
  const renewTimer = setInterval(async () => {
    try {
      const r = await ensureCertificate({ dir: tlsDir, names, ips, exec: opts.exec ?? defaultExec, now });
      if (r.created) {
        const { readFile } = await import('node:fs/promises');
        context.reloadCertificate(await readFile(r.certPath, 'utf8'), await readFile(r.keyPath, 'utf8'));
        log.info({ notAfter: r.info.notAfter }, 'renewed the self-signed certificate');
      }
    } catch (err) {
      log.warn({ err: (err as DrydockError).toJSON?.() ?? String(err) }, 'could not renew the certificate');
    }
  }, 86_400_000);
  renewTimer.unref();
  let closed = false;
  return {
    app,
    context,
    routes,
    url: address,
    redirect,
    redirectUrl,
    scheduler,
    db,
    box,
    log,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(renewTimer);
      clearInterval(backupTimer);
      scheduler?.stop();
      redirect?.closeAllConnections();
      await new Promise<void>((r) => (redirect ? redirect.close(() => r()) : r()));
      await app.close();
      await box.close();
      await backupDatabase(db, root).catch((err) =>
        log.warn({ err: String(err) }, 'could not write the database backup'),
      );
      db.close();
      await instance.release();
    },
  };
}
