// The fastify application: HTTPS only, security headers, sign-in/session/CSRF checks on every API
// route, errors mapped through core/errors.ts, the API routes, /metrics and the admin page.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Server as HttpsServer } from 'node:https';
import { join, posix } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import compress from '@fastify/compress';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import { asDrydockError, DrydockError, type ErrorCode } from '../../core/index.ts';
import {
  type Context,
  DEFAULT_LIMITS,
  type Limits,
  type RouteAuth,
  type RouteRecord,
  SESSION_COOKIE,
  type ServiceDeps,
  TLS_CIPHERS,
} from './context.ts';
import { databaseError } from './db-health.ts';
import { EventHub } from './events.ts';
import { securityHeaders } from './headers.ts';
import { LogRing } from './logger.ts';
import { dummyPasswordHash, getUser } from './passwords.ts';
import { registerAuthRoutes } from './routes-auth.ts';
import { registerBundleRoutes } from './routes-bundles.ts';
import { registerEventRoutes } from './routes-events.ts';
import { registerHistoryRoutes } from './routes-history.ts';
import { registerMetricsRoutes } from './routes-metrics.ts';
import { registerSettingsRoutes } from './routes-settings.ts';
import { registerStatusRoutes } from './routes-status.ts';
import { registerSupportRoutes } from './routes-support.ts';
import { registerTlsRoutes } from './routes-tls.ts';
import { registerUpdateRoutes } from './routes-update.ts';
import { csrfMatches, SessionStore } from './sessions.ts';
import { StatusCache } from './status-cache.ts';

import { LoginThrottle } from './throttle.ts';
import { certificatePaths } from './tls.ts';

const SERVICE_REFUSALS = new Set<ErrorCode>([
  'CSRF_INVALID',
  'PASSWORD_CHANGE_REQUIRED',
  'UPDATE_IN_PROGRESS',
  'USAGE',
  'CONFIG_INVALID',
  'PAYLOAD_TOO_LARGE',
]);
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const MUTATION = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export async function createService(
  deps: ServiceDeps,
): Promise<{ app: FastifyInstance; context: Context; routes: RouteRecord[] }> {
  const limits: Limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const now = deps.now ?? Date.now;
  const paths = certificatePaths(deps.tlsDir);
  const app = Fastify({
    loggerInstance: deps.logger,
    https: {
      cert: await readFile(paths.certPath),
      key: await readFile(paths.keyPath),
      minVersion: 'TLSv1.2',
      ciphers: TLS_CIPHERS,
      honorCipherOrder: true,
    },
    trustProxy: false,
    bodyLimit: 1024 * 1024,
    // slow-loris and stalled clients: headers in time, bodies in time (uploads have their own
    // stall timer in upload.ts, as a big bundle may rightly take an hour), idle sockets closed
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: 5_000,
    // status polling would flood the journal: mutations are logged by the onResponse hook below
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // a path that cannot be decoded (`%00`, `%zz`) matches no route: 404 like any such path
    frameworkErrors: (err, _req, reply) => {
      const code = (err as { code?: string }).code;
      const e =
        code === 'FST_ERR_BAD_URL'
          ? new DrydockError('NOT_FOUND', 'no such route')
          : new DrydockError('USAGE', 'the request is not valid');
      (reply as unknown as FastifyReply)
        .code(e.httpStatus)
        .send({ error: { code: e.code, message: e.message } });
    },
    // a request line Node's parser cannot read (e.g. `\api\v1\status`) names no route: 404 and
    // close, like any path that matches nothing; other parse errors keep their status
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const status =
        err.code === 'HPE_INVALID_URL'
          ? '404 Not Found'
          : err.code === 'HPE_HEADER_OVERFLOW'
            ? '431 Request Header Fields Too Large'
            : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
              ? '408 Request Timeout'
              : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    },
    forceCloseConnections: true,
    // refuse unknown fields instead of silently dropping them: bad input gets a clear error
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
    },
  }) as unknown as FastifyInstance;
  const server = app.server as unknown as HttpsServer;
  // 0: an upload's body may take long; its stall timer and the idle timeout end a stuck one. Node
  // enforces headersTimeout only together with requestTimeout, so the time to a request's complete
  // headers is timed here: from the connection, and again from each response's end (keep-alive)
  server.requestTimeout = 0;
  const headerTimers = new WeakMap<object, NodeJS.Timeout>();
  const disarm = (socket: object) => clearTimeout(headerTimers.get(socket));
  const arm = (socket: { destroy(): void; once(e: 'close', f: () => void): unknown }) => {
    disarm(socket);
    headerTimers.set(socket, setTimeout(() => socket.destroy(), limits.headersTimeoutMs).unref());
  };
  server.on('secureConnection', (socket) => {
    arm(socket);
    socket.once('close', () => disarm(socket));
  });
  server.on('request', (req, res) => {
    // the socket as it is now: by 'finish' a destroyed one is already detached from req
    const socket = req.socket;
    if (!socket) return;
    disarm(socket);
    res.once('finish', () => {
      if (!socket.destroyed) arm(socket);
    });
  });
  server.maxConnections = limits.maxConnections;
  // responses are what the box returns: the schemas document them, they do not filter them
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  const sessions = new SessionStore(
    deps.db,
    { idleMs: limits.sessionIdleMs, absoluteMs: limits.sessionAbsoluteMs },
    now,
  );
  const throttle = new LoginThrottle(deps.db, limits.throttle, now);
  // made now, so the first sign-in with an unknown name takes as long as any other
  await dummyPasswordHash();
  const status = new StatusCache(deps.box, limits.statusTtlMs, now);
  const events = new EventHub(deps.box, limits.heartbeatMs, {
    perSession: limits.eventStreamsPerSession,
    // each heartbeat re-checks the session: a stream of a revoked or expired session ends
    alive: (idHash) => sessions.alive(idHash),
  });
  let busy: string | null = null;
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();

  const ctx: Context = {
    deps,
    limits,
    now,
    sessions,
    throttle,
    status,
    events,
    ring: deps.ring ?? new LogRing(),
    app,
    loopDelay,
    async exclusive(what, fn) {
      if (busy)
        throw new DrydockError(
          'UPDATE_IN_PROGRESS',
          `another operation (${busy}) is running; wait until it ends`,
        );
      busy = what;
      try {
        return await fn();
      } finally {
        busy = null;
      }
    },
    async operation(what, reply, wait, fn) {
      const run = ctx.exclusive(what, fn);
      if (wait) return { operation: what, running: false, result: await run };
      const outcome = run.then(
        (result) => ({ ok: true as const, result }),
        (err: unknown) => ({ ok: false as const, err }),
      );
      const timer = new Promise<null>((r) => setTimeout(() => r(null), limits.operationWaitMs).unref());
      const first = await Promise.race([outcome, timer]);
      if (first) {
        if (!first.ok) throw first.err;
        return { operation: what, running: false, result: first.result };
      }
      // still running: its end is reported through events and history; a late failure is logged
      void outcome.then((o) => {
        if (!o.ok) app.log.warn({ err: asDrydockError(o.err).toJSON(), operation: what }, 'operation failed');
      });
      reply.code(202);
      return { operation: what, running: true };
    },
    session(req) {
      if (!req.drydockSession) throw new DrydockError('UNAUTHENTICATED', 'sign in first');
      return req.drydockSession;
    },
    actor(req) {
      return { user: req.drydockSession?.username ?? 'anonymous', from: req.ip };
    },
    async audit(req, action, detail, result, user) {
      try {
        await deps.box.recordAudit(
          { user: user ?? ctx.actor(req).user, from: req.ip },
          action,
          detail,
          result,
        );
      } catch (err) {
        app.log.error({ err: asDrydockError(err).toJSON(), action }, 'could not write the audit log');
      }
    },
    setSessionCookie(reply, id) {
      reply.setCookie(SESSION_COOKIE, id, {
        httpOnly: true,
        secure: true,
        sameSite: 'strict',
        path: '/',
        maxAge: Math.floor(limits.sessionAbsoluteMs / 1000),
      });
    },
    reloadCertificate(cert, key) {
      (app.server as unknown as HttpsServer).setSecureContext({
        cert,
        key,
        minVersion: 'TLSv1.2',
        ciphers: TLS_CIPHERS,
        honorCipherOrder: true,
      });
    },
  };

  const headers = await securityHeaders();
  app.addHook('onRequest', async (_req, reply) => {
    for (const [k, v] of headers) reply.header(k, v);
  });
  await app.register(cookie);
  await app.register(rateLimit, { global: false });
  await app.register(compress, { encodings: ['gzip'], threshold: 1024 });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Drydock updater API',
        version: '1',
        description:
          'The appliance update service. Sign in with POST /api/v1/login; send the csrfToken back in X-CSRF-Token on every mutation.',
      },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
          csrf: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token' },
        },
      },
      security: [{ session: [], csrf: [] }],
    },
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toDrydockError(err);
    req.drydockError = e;
    if (e.code === 'INTERNAL') req.log.error({ err }, 'internal error');
    else if (e.httpStatus >= 500) req.log.warn({ err: e.toJSON() }, 'request failed');
    const message = e.code === 'INTERNAL' ? 'internal error; the service log has the details' : e.message;
    reply.code(e.httpStatus).send({ error: { code: e.code, message } });
  });

  // every route, as registered: the security test calls each one signed out
  const routes: RouteRecord[] = [];
  app.addHook('onRoute', (r) => {
    // read when asked: a plugin's own onRoute hook (the page's files) marks its routes after this one
    const auth = () => (r.config as { auth?: RouteAuth } | undefined)?.auth ?? 'session';
    for (const method of ([] as string[]).concat(r.method))
      routes.push({
        method,
        url: r.url,
        get auth() {
          return auth();
        },
      });
  });

  // who may call what: decided from the route that matched (the router's decoded path), never from
  // the raw URL, and before the body is read, so an anonymous upload is refused at once. The
  // not-found handler is public: it answers 404, or the page's index.html for page paths.
  app.addHook('onRequest', async (req) => {
    const auth: RouteAuth = req.is404 ? 'public' : (req.routeOptions.config?.auth ?? 'session');
    if (auth === 'public') return;
    const session = sessions.get(req.cookies?.[SESSION_COOKIE] ?? parseCookie(req.headers.cookie));
    if (auth === 'metrics') {
      if (LOOPBACK.has(req.socket.remoteAddress ?? '') || session) return;
      throw new DrydockError('UNAUTHENTICATED', 'sign in or ask from the box itself (127.0.0.1)');
    }
    if (!session)
      throw new DrydockError('UNAUTHENTICATED', 'sign in first (the session is missing or expired)');
    req.drydockSession = session;
    if (MUTATION.has(req.method) && !csrfMatches(session, req.headers['x-csrf-token']))
      throw new DrydockError(
        'CSRF_INVALID',
        'the X-CSRF-Token header is missing or wrong; reload the page (GET /api/v1/session gives the token)',
      );
    if (!req.routeOptions.config?.duringPasswordChange && getUser(deps.db, session.username)?.mustChange)
      throw new DrydockError('PASSWORD_CHANGE_REQUIRED', 'change the password first (POST /api/v1/password)');
  });

  app.addHook('onResponse', async (req, reply) => {
    if (!MUTATION.has(req.method)) return;
    // mutations the service itself refused reach the audit log here (the engine records its own)
    const e = req.drydockError;
    if (e && req.drydockSession && SERVICE_REFUSALS.has(e.code))
      await ctx.audit(
        req,
        'request.refused',
        `${req.method} ${req.url.split('?')[0]}: ${e.code}: ${e.message}`,
        'error',
      );
    if (MUTATION.has(req.method))
      req.log.info(
        {
          method: req.method,
          url: req.url.split('?')[0],
          status: reply.statusCode,
          user: req.drydockSession?.username,
          from: req.ip,
        },
        'request',
      );
  });

  await app.register(async (api) => {
    await registerAuthRoutes(api, ctx);
    // one file per resource
    for (const register of [
      registerStatusRoutes,
      registerUpdateRoutes,
      registerBundleRoutes,
      registerHistoryRoutes,
      registerSettingsRoutes,
      registerTlsRoutes,
      registerSupportRoutes,
      registerEventRoutes,
      registerMetricsRoutes,
    ])
      await register(api, ctx);
  });

  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await registerWeb(app, deps.webDir);

  app.addHook('onClose', async () => {
    status.close();
    events.close();
    loopDelay.disable();
  });
  return { app, context: ctx, routes };
}

function parseCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === SESSION_COOKIE) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'USAGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'USAGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'USAGE',
  FST_ERR_CTP_INVALID_JSON_BODY: 'USAGE',
  FST_ERR_VALIDATION: 'USAGE',
  FST_ERR_NOT_FOUND: 'NOT_FOUND',
};

function toDrydockError(err: unknown): DrydockError {
  if (err instanceof DrydockError) return err;
  const db = databaseError(err);
  if (db) return db;
  const e = err as { code?: string; statusCode?: number; message?: string; validation?: unknown };
  if (e?.validation) return new DrydockError('USAGE', `the request is not valid: ${e.message}`);
  const mapped = e?.code ? FASTIFY_CODES[e.code] : undefined;
  if (mapped) return new DrydockError(mapped, e.message ?? mapped);
  if (e?.statusCode === 404) return new DrydockError('NOT_FOUND', e.message ?? 'not found');
  if (e?.statusCode === 413)
    return new DrydockError('PAYLOAD_TOO_LARGE', e.message ?? 'the request is too large');
  if (e?.statusCode && e.statusCode >= 400 && e.statusCode < 500)
    return new DrydockError('USAGE', e.message ?? 'the request is not valid');
  return asDrydockError(err);
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Drydock</title>
<p>The admin page is not built on this machine (run <code>npm run build:web</code>). The API answers under /api/v1.</p>`;

/**
 * Whether a path that matched no route is, however spelled, an API path: those get 404, never the
 * page (a 200 with the page for `/API/v1/status` would read as "it answered").
 */
function looksLikeApi(rawPath: string): boolean {
  let p = rawPath;
  for (let i = 0; i < 3; i++) {
    try {
      const d = decodeURIComponent(p);
      if (d === p) break;
      p = d;
    } catch {
      return true;
    }
  }
  p = posix.normalize(`/${p.replace(/\\/g, '/').toLowerCase()}`);
  return p === '/api' || p.startsWith('/api/') || p.startsWith('/metrics') || p.includes('\0');
}

async function registerWeb(app: FastifyInstance, webDir: string | null): Promise<void> {
  const built = webDir !== null && existsSync(join(webDir, 'index.html'));
  if (built) {
    // the page's files are public (the sign-in form is part of them); only these routes are marked
    await app.register(async (web) => {
      web.addHook('onRoute', (r) => {
        r.config = { ...(r.config ?? {}), auth: 'public' };
      });
      // the wildcard catches every path no API route matched: an API path, however spelled, is
      // answered 404 here rather than handed to the file server
      web.addHook('onRequest', async (req) => {
        if (looksLikeApi(req.url.split('?')[0] ?? '/'))
          throw new DrydockError('NOT_FOUND', `no such route: ${req.method} ${req.url.split('?')[0]}`);
      });
      await web.register(fastifyStatic, {
        root: webDir,
        prefix: '/',
        wildcard: true,
        index: ['index.html'],
        cacheControl: false,
        // serve .gz files the page build made, when there are; else @fastify/compress compresses on the fly
        preCompressed: true,
        // @fastify/static 10 passes the fastify reply here (8 passed the raw response)
        setHeaders(reply, path) {
          // hashed assets never change; the page itself is always asked again
          reply.header(
            'cache-control',
            path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
          );
        },
      });
    });
  }
  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split('?')[0] ?? '/';
    if ((req.method === 'GET' || req.method === 'HEAD') && !looksLikeApi(path)) {
      // the page routes in the browser: unknown paths get index.html
      if (built) return reply.header('cache-control', 'no-cache').sendFile('index.html');
      return reply.type('text/html; charset=utf-8').send(NOT_BUILT);
    }
    throw new DrydockError('NOT_FOUND', `no such route: ${req.method} ${path}`);
  });
}
