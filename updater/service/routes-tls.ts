// The certificate the service presents.
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { DrydockError } from '../../core/index.ts';
import type { Context } from './context.ts';
import { CertificateInfo, routeSchema, TlsBody } from './schemas.ts';
import { readCertificateInfo, validateCertificatePair, writePair } from './tls.ts';

export async function registerTlsRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
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
}
