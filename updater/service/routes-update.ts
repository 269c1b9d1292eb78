// The update API: status, releases, check/download/apply/cancel/rollback, offline upload, history,
// audit, settings, TLS certificate, support bundle, events and /metrics.
import { rm } from 'node:fs/promises';
import type { Static } from '@sinclair/typebox';
import { Type as T } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import cron from 'node-cron';
import { DrydockError } from '../../core/index.ts';
import { renderMetrics } from './metrics.ts';
import { windowProblem } from './policy.ts';
import {
  AuditEntry,
  BoxStatus,
  CertificateInfo,
  DownloadBody,
  HistoryEntry,
  LimitQuery,
  Operation,
  ReleaseSummary,
  routeSchema,
  Settings,
  SettingsPatch,
  TlsBody,
  WaitQuery,
} from './schemas.ts';
import type { Context } from './server.ts';
import { supportBundle } from './support.ts';
import { readCertificateInfo, validateCertificatePair, writePair } from './tls.ts';
import { spoolUpload } from './upload.ts';

type Wait = { Querystring: Static<typeof WaitQuery> };

export async function registerUpdateRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  const { box } = ctx.deps;
  const tags = ['update'];
  let uploading = false;

  app.get(
    '/api/v1/status',
    {
      schema: routeSchema({
        summary: 'Running release, state, workloads, disk, k3s',
        tags,
        response: BoxStatus,
      }),
    },
    // the cached text as is: polled often, serialized once per change
    async (_req, reply) =>
      reply
        .type('application/json; charset=utf-8')
        .serializer((s) => s as string)
        .send(await ctx.status.json()),
  );

  app.get(
    '/api/v1/releases',
    {
      schema: routeSchema({
        summary: 'Releases available on the channel (from the last check), with notes',
        tags,
        response: T.Array(ReleaseSummary),
      }),
    },
    async () => (await ctx.status.get()).available,
  );

  app.post(
    '/api/v1/update/check',
    {
      schema: routeSchema({
        summary: 'Ask the channel for releases now',
        tags,
        response: T.Array(ReleaseSummary),
      }),
    },
    async (req) => {
      const r = await box.check(ctx.actor(req));
      ctx.status.invalidate();
      return r;
    },
  );

  app.post<{ Body: Static<typeof DownloadBody> | undefined } & Wait>(
    '/api/v1/update/download',
    {
      schema: routeSchema({
        summary: 'Download and verify a release (newest installable without a version); ends in "staged"',
        tags,
        body: DownloadBody,
        querystring: WaitQuery,
        response: Operation,
      }),
    },
    async (req, reply) =>
      ctx.operation('download', reply, req.query.wait === true, () =>
        box.download(ctx.actor(req), req.body?.version),
      ),
  );

  app.post<Wait>(
    '/api/v1/update/apply',
    {
      schema: routeSchema({
        summary: 'Apply the staged release: snapshot, apply, health gate, commit or roll back',
        tags,
        querystring: WaitQuery,
        response: Operation,
      }),
    },
    async (req, reply) =>
      ctx.operation('apply', reply, req.query.wait === true, () => box.apply(ctx.actor(req))),
  );

  app.post(
    '/api/v1/update/cancel',
    {
      schema: routeSchema({
        summary: 'Drop a staged or downloading release (only before apply)',
        tags,
        response: T.Object({ ok: T.Boolean() }),
      }),
    },
    async (req) => {
      await box.cancel(ctx.actor(req));
      return { ok: true };
    },
  );

  app.post<Wait>(
    '/api/v1/update/rollback',
    {
      schema: routeSchema({
        summary: 'Go back to the retained previous release',
        tags,
        querystring: WaitQuery,
        response: Operation,
      }),
    },
    async (req, reply) =>
      ctx.operation('rollback', reply, req.query.wait === true, () => box.rollback(ctx.actor(req))),
  );

  // the upload scope reads the raw body itself: every content type arrives as the request stream
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    // the body is a stream checked by the engine: its schema only documents it
    scope.setValidatorCompiler(() => () => true);
    scope.post(
      '/api/v1/bundles',
      {
        schema: routeSchema({
          summary: 'Offline update: upload a .drydock bundle as the raw body; verified, then staged',
          tags,
          body: T.String({ format: 'binary', description: 'the .drydock file, as is' }),
          consumes: ['application/octet-stream'],
          response: ReleaseSummary,
        }),
      },
      async (req) => {
        const actor = ctx.actor(req);
        const header = req.headers['content-length'];
        const declared = header === undefined ? null : Number(header);
        // the bytes arrive outside the operation lock: an upload (which may take long, or stall)
        // never holds up a rollback; only the short stage step below takes the lock
        if (uploading)
          throw new DrydockError('UPDATE_IN_PROGRESS', 'another upload is running; wait until it ends');
        uploading = true;
        let spooled: { path: string; bytes: number } | null = null;
        try {
          spooled = await spoolUpload({
            root: ctx.deps.root,
            body: req.body as NodeJS.ReadableStream,
            declaredLength: Number.isFinite(declared) ? declared : null,
            limit: ctx.limits.uploadBytes,
            stallMs: ctx.limits.uploadStallMs,
            // other open pages see the upload too
            onProgress: (done, total) =>
              ctx.events.publish({
                type: 'progress',
                step: 'upload',
                done,
                total,
                at: new Date(ctx.now()).toISOString(),
              }),
          });
          const file = spooled;
          return await ctx.exclusive('upload', () => box.stage(actor, file.path));
        } catch (err) {
          const e = err as DrydockError;
          // refusals before the engine saw the file are audited here; the engine audits its own
          if (!spooled)
            await ctx.audit(req, 'bundle.upload', `refused: ${e.code ?? 'error'}: ${e.message}`, 'error');
          throw err;
        } finally {
          uploading = false;
          if (spooled) await rm(spooled.path, { force: true });
        }
      },
    );
  });

  app.get<{ Querystring: Static<typeof LimitQuery> }>(
    '/api/v1/history',
    {
      schema: routeSchema({
        summary: 'Updates and rollbacks, newest first',
        tags,
        querystring: LimitQuery,
        response: T.Array(HistoryEntry),
      }),
    },
    async (req) => box.history(req.query.limit ?? 100),
  );

  app.get<{ Querystring: Static<typeof LimitQuery> }>(
    '/api/v1/audit',
    {
      schema: routeSchema({
        summary: 'Who did what, newest first',
        tags: ['admin'],
        querystring: LimitQuery,
        response: T.Array(AuditEntry),
      }),
    },
    async (req) => box.audit(req.query.limit ?? 100),
  );

  app.get(
    '/api/v1/settings',
    { schema: routeSchema({ summary: 'Update settings', tags: ['admin'], response: Settings }) },
    async () => box.getSettings(),
  );

  app.put<{ Body: Static<typeof SettingsPatch> }>(
    '/api/v1/settings',
    {
      schema: routeSchema({
        summary: 'Change update settings (any subset)',
        tags: ['admin'],
        body: SettingsPatch,
        response: Settings,
      }),
    },
    async (req) => {
      const patch = req.body;
      if (patch.checkSchedule !== undefined && !cron.validate(patch.checkSchedule))
        throw new DrydockError(
          'CONFIG_INVALID',
          `"${patch.checkSchedule}" is not a cron expression (e.g. "0 3 * * *")`,
        );
      if (patch.maintenanceWindow !== undefined) {
        const problem = windowProblem(patch.maintenanceWindow);
        if (problem) throw new DrydockError('CONFIG_INVALID', problem);
      }
      if (patch.channelUrl) {
        let url: URL;
        try {
          url = new URL(patch.channelUrl);
        } catch {
          throw new DrydockError('CONFIG_INVALID', `"${patch.channelUrl}" is not a URL`);
        }
        if (url.protocol !== 'https:' && url.protocol !== 'http:')
          throw new DrydockError('CONFIG_INVALID', 'the channel URL must start with https:// or http://');
        if (url.username || url.password)
          throw new DrydockError('CONFIG_INVALID', 'the channel URL must not carry a user name or password');
      }
      const merged = { ...(await box.getSettings()), ...patch };
      if (merged.autoApply && !merged.maintenanceWindow)
        throw new DrydockError('CONFIG_INVALID', 'automatic apply needs a maintenance window');
      const next = await box.putSettings(ctx.actor(req), patch);
      ctx.deps.onSettings?.(next);
      return next;
    },
  );

  app.get(
    '/api/v1/tls',
    {
      schema: routeSchema({
        summary: 'The certificate the service presents',
        tags: ['admin'],
        response: CertificateInfo,
      }),
    },
    async () => {
      const info = await readCertificateInfo(ctx.deps.tlsDir);
      if (!info) throw new DrydockError('NOT_FOUND', 'no certificate');
      return info;
    },
  );

  app.put<{ Body: Static<typeof TlsBody> }>(
    '/api/v1/tls',
    {
      schema: routeSchema({
        summary: 'Replace the certificate (PEM certificate + matching unencrypted key); takes effect at once',
        tags: ['admin'],
        body: TlsBody,
        response: CertificateInfo,
      }),
    },
    async (req) => {
      const { certificate, key } = req.body;
      let info: ReturnType<typeof validateCertificatePair>;
      try {
        info = validateCertificatePair(certificate, key);
      } catch (err) {
        await ctx.audit(req, 'tls.replace', `refused: ${(err as Error).message}`, 'error');
        throw err;
      }
      // on disk first (what a restart would serve), then new connections get it; no restart,
      // open connections finish on the old one
      await writePair(ctx.deps.tlsDir, certificate, key);
      ctx.reloadCertificate(certificate, key);
      await ctx.audit(
        req,
        'tls.replace',
        `certificate for ${[...info.names, ...info.ips].join(', ')} until ${info.notAfter}`,
        'ok',
      );
      return info;
    },
  );

  app.get(
    '/api/v1/support-bundle',
    {
      schema: routeSchema({
        summary: 'Logs, state, history and redacted config as .tar.gz',
        tags: ['admin'],
        produces: ['application/gzip'],
      }),
    },
    async (req, reply) => {
      const stream = await supportBundle({
        box,
        root: ctx.deps.root,
        logText: ctx.ring.text(),
        certificate: await readCertificateInfo(ctx.deps.tlsDir),
        exec: ctx.deps.exec,
        now: ctx.now,
      });
      const stamp = new Date(ctx.now()).toISOString().replace(/[:.]/g, '-');
      await ctx.audit(req, 'support-bundle', 'downloaded a support bundle', 'ok');
      reply
        .type('application/gzip')
        .header('content-disposition', `attachment; filename="drydock-support-${stamp}.tar.gz"`)
        .header('cache-control', 'no-store');
      return reply.send(stream);
    },
  );

  app.get(
    '/api/v1/events',
    {
      schema: routeSchema({
        summary: 'Server-Sent Events: a "snapshot" first, then state, progress and log events',
        tags,
        produces: ['text/event-stream'],
      }),
    },
    async (req, reply) => {
      const session = ctx.session(req);
      const snapshot = await ctx.deps.box.status();
      const headers = reply.getHeaders() as Record<string, string | number | string[]>;
      reply.hijack();
      ctx.events.attach(reply.raw, headers, session.idHash, snapshot);
    },
  );

  app.get('/metrics', { config: { auth: 'metrics' }, schema: { hide: true } }, async (_req, reply) => {
    const status = await ctx.status.get();
    const history = await box.history(50);
    reply.type('text/plain; version=0.0.4; charset=utf-8');
    return renderMetrics(status, history, {
      sseClients: ctx.events.size,
      loopDelayP99Ms: ctx.loopDelay.percentile(99) / 1e6,
      loopDelayMaxMs: ctx.loopDelay.max / 1e6,
      rssBytes: process.memoryUsage.rss(),
    });
  });
}
