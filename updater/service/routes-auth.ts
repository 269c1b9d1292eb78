// Sign-in, sign-out, the session (CSRF token) and the password change.
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { DrydockError } from '../../core/index.ts';
import { type Context, SESSION_COOKIE } from './context.ts';
import { getMeta } from './db.ts';
import {
  checkPasswordStrength,
  dummyPasswordHash,
  getUser,
  needsRehash,
  setAdminPassword,
  setPasswordHash,
  verifyPassword,
} from './passwords.ts';
import { LoginBody, Ok, PasswordBody, routeSchema, SessionInfo } from './schemas.ts';
import type { Session } from './sessions.ts';

function sessionInfo(ctx: Context, s: Session) {
  const mustChange = getUser(ctx.deps.db, s.username)?.mustChange ?? false;
  const notice = getMeta(ctx.deps.db, 'notice.database');
  return {
    notices: notice ? [notice] : [],
    user: { username: s.username, mustChange },
    username: s.username,
    mustChange,
    csrfToken: s.csrf,
    idleExpiresAt: new Date(s.idleExpiresAt).toISOString(),
    absoluteExpiresAt: new Date(s.absoluteExpiresAt).toISOString(),
  };
}

export async function registerAuthRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  const tags = ['session'];
  const tooMany = (retryMs: number) =>
    new DrydockError(
      'RATE_LIMITED',
      `too many sign-in attempts; try again in ${Math.max(1, Math.ceil(retryMs / 1000))} s`,
    );

  app.post<{ Body: Static<typeof LoginBody> }>(
    '/api/v1/login',
    {
      schema: routeSchema({
        summary: 'Sign in (user admin); sets the session cookie',
        tags,
        body: LoginBody,
        response: SessionInfo,
      }),
      config: {
        auth: 'public',
        rateLimit: {
          max: ctx.limits.loginPerAddress.max,
          timeWindow: ctx.limits.loginPerAddress.windowMs,
          errorResponseBuilder: (_req: unknown, c: { ttl: number }) => tooMany(c.ttl),
        },
      },
    },
    async (req, reply) => {
      const { username, password } = req.body;
      const wait = ctx.throttle.waitFor(username, req.ip);
      if (wait > 0) {
        reply.header('retry-after', String(Math.ceil(wait / 1000)));
        throw tooMany(wait);
      }
      const user = getUser(ctx.deps.db, username);
      // the same scrypt work whether or not the account exists
      const ok = (await verifyPassword(password, user?.hash ?? (await dummyPasswordHash()))) && user !== null;
      if (!ok) {
        // unknown names count like known ones: the answers never tell which accounts exist
        const delay = ctx.throttle.fail(username, req.ip);
        // a name typed at sign-in may be a password typed in the wrong field: only known ones are kept
        await ctx.audit(
          req,
          'login',
          user ? `failed sign-in for ${user.username}` : 'failed sign-in for an unknown user name',
          'error',
          user ? user.username : 'unknown',
        );
        if (delay > 0) reply.header('retry-after', String(Math.ceil(delay / 1000)));
        throw new DrydockError('UNAUTHENTICATED', 'wrong user name or password');
      }
      ctx.throttle.succeed(username, req.ip);
      if (needsRehash(user.hash)) await setPasswordHash(ctx.deps.db, user.username, password);
      const { id, session } = ctx.sessions.create(user.username, req.ip);
      ctx.setSessionCookie(reply, id);
      await ctx.audit(
        req,
        'login',
        `signed in${user.mustChange ? ' (password change required)' : ''}`,
        'ok',
        user.username,
      );
      return sessionInfo(ctx, session);
    },
  );

  app.post(
    '/api/v1/logout',
    {
      schema: routeSchema({ summary: 'Sign out: ends the session', tags, response: Ok }),
      config: { duringPasswordChange: true },
    },
    async (req, reply) => {
      const s = ctx.session(req);
      ctx.sessions.delete(s.idHash);
      ctx.events.endSession(s.idHash);
      reply.clearCookie(SESSION_COOKIE, { path: '/', secure: true, httpOnly: true, sameSite: 'strict' });
      await ctx.audit(req, 'logout', 'signed out', 'ok');
      return { ok: true };
    },
  );

  app.get(
    '/api/v1/session',
    {
      schema: routeSchema({ summary: 'The current session and its CSRF token', tags, response: SessionInfo }),
      config: { duringPasswordChange: true },
    },
    async (req) => sessionInfo(ctx, ctx.session(req)),
  );

  app.post<{ Body: Static<typeof PasswordBody> }>(
    '/api/v1/password',
    {
      schema: routeSchema({
        summary: 'Change the password; ends every other session and renews this one',
        tags,
        body: PasswordBody,
        response: SessionInfo,
      }),
      config: { duringPasswordChange: true },
    },
    async (req, reply) => {
      const s = ctx.session(req);
      const user = getUser(ctx.deps.db, s.username);
      const { currentPassword, newPassword } = req.body;
      const wait = ctx.throttle.waitFor(s.username, req.ip);
      if (wait > 0) {
        reply.header('retry-after', String(Math.ceil(wait / 1000)));
        throw tooMany(wait);
      }
      if (!user || !(await verifyPassword(currentPassword, user.hash))) {
        ctx.throttle.fail(s.username, req.ip);
        await ctx.audit(req, 'password.change', 'refused: wrong current password', 'error');
        throw new DrydockError('FORBIDDEN', 'the current password is wrong');
      }
      checkPasswordStrength(newPassword, { current: currentPassword, username: s.username });
      await setAdminPassword(ctx.deps.db, newPassword, {
        mustChange: false,
        source: 'admin',
        username: s.username,
      });
      // every session of the account ended with the change; this client gets a fresh one
      ctx.events.endSession(s.idHash);
      const { id, session } = ctx.sessions.create(s.username, req.ip);
      ctx.setSessionCookie(reply, id);
      await ctx.audit(req, 'password.change', 'password changed; other sessions ended', 'ok');
      return sessionInfo(ctx, session);
    },
  );
}
