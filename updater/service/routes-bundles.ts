// Offline update: a bundle uploaded as the raw request body.
import { rm } from 'node:fs/promises';
import { Type as T } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { DrydockError } from '../../core/index.ts';
import type { Context } from './context.ts';
import { ReleaseSummary, routeSchema } from './schemas.ts';
import { spoolUpload } from './upload.ts';

export async function registerBundleRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  const { box } = ctx.deps;
  const tags = ['update'];
  let uploading = false;
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
}
