// What the service's parts share: its limits and dependencies, the Context that route modules
// receive, and the route options it adds to fastify. A module of its own so that route files and
// server.ts do not import each other.
import type { IntervalHistogram } from 'node:perf_hooks';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { DrydockError, Exec } from '../../core/index.ts';
import type { Actor, Box, Settings } from '../engine/api.ts';
import type { Db } from './db.ts';
import type { EventHub } from './events.ts';
import type { LogRing } from './logger.ts';
import type { Session, SessionStore } from './sessions.ts';
import type { StatusCache } from './status-cache.ts';
import { DEFAULT_THROTTLE, type LoginThrottle, type LoginThrottleLimits } from './throttle.ts';

export const SESSION_COOKIE = '__Host-drydock-session';

/**
 * TLS 1.2 suites with forward secrecy and AEAD only (Mozilla's "intermediate" list): no CBC-SHA1,
 * no CCM8, no ARIA, no RSA key exchange. TLS 1.3 suites are OpenSSL's defaults, all AEAD.
 */
export const TLS_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface Limits {
  uploadBytes: number;
  sessionIdleMs: number;
  sessionAbsoluteMs: number;
  /** sign-in attempts per address (any account) per window: floods get 429 */
  loginPerAddress: { max: number; windowMs: number };
  /** growing delays per account and address */
  throttle: LoginThrottleLimits;
  statusTtlMs: number;
  heartbeatMs: number;
  /** how long a long operation (download, apply, rollback) may take before the answer is 202 */
  operationWaitMs: number;
  /** a request's headers must arrive within this */
  headersTimeoutMs: number;
  /** a request (headers and body) other than an upload must arrive within this */
  requestTimeoutMs: number;
  /** a socket with no traffic either way is closed after this (event streams send heartbeats) */
  idleTimeoutMs: number;
  /** an upload that sends nothing for this long is ended (and frees what it held) */
  uploadStallMs: number;
  /** open connections at most; more are refused at accept */
  maxConnections: number;
  /** event streams per session at most (a page holds one; reloads replace theirs) */
  eventStreamsPerSession: number;
}

export const DEFAULT_LIMITS: Limits = {
  uploadBytes: 8 * 1024 ** 3,
  sessionIdleMs: 30 * 60_000,
  sessionAbsoluteMs: 12 * 3_600_000,
  loginPerAddress: { max: 10, windowMs: 60_000 },
  throttle: DEFAULT_THROTTLE,
  statusTtlMs: 1_000,
  heartbeatMs: 15_000,
  operationWaitMs: 500,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
  idleTimeoutMs: 120_000,
  uploadStallMs: 60_000,
  maxConnections: 256,
  eventStreamsPerSession: 4,
};

export interface ServiceDeps {
  root: string;
  box: Box;
  db: Db;
  tlsDir: string;
  /** the built admin page (web/dist); null or missing: a short page says it is not built */
  webDir: string | null;
  logger: Logger;
  ring?: LogRing;
  now?: () => number;
  limits?: Partial<Limits>;
  exec?: Exec;
  /** called after the settings changed (the scheduler re-reads them) */
  onSettings?: (s: Settings) => void;
}

/** What route handlers share. */
export interface Context {
  deps: ServiceDeps;
  limits: Limits;
  now: () => number;
  sessions: SessionStore;
  throttle: LoginThrottle;
  status: StatusCache;
  events: EventHub;
  ring: LogRing;
  app: FastifyInstance;
  /** Runs one long box operation at a time; a second one is refused with UPDATE_IN_PROGRESS (409). */
  exclusive<T>(what: string, fn: () => Promise<T>): Promise<T>;
  /** Starts an exclusive operation; answers with its result if it ends quickly, else 202. */
  operation<T>(what: string, reply: FastifyReply, wait: boolean, fn: () => Promise<T>): Promise<unknown>;
  session(req: FastifyRequest): Session;
  actor(req: FastifyRequest): Actor;
  audit(
    req: FastifyRequest,
    action: string,
    detail: string,
    result: 'ok' | 'error',
    user?: string,
  ): Promise<void>;
  setSessionCookie(reply: FastifyReply, id: string): void;
  reloadCertificate(cert: string, key: string): void;
  /** event-loop delay since start, for /metrics (a blocked loop is what makes status slow) */
  loopDelay: IntervalHistogram;
}

declare module 'fastify' {
  interface FastifyRequest {
    drydockSession?: Session;
    /** the error this request answered with, for the audit of refused mutations */
    drydockError?: DrydockError;
  }
  interface FastifyContextConfig {
    /**
     * Who may call the route. Deny by default: a route without this needs a signed-in session (and
     * CSRF on mutations, and the forced password change done). 'public': sign-in and the page's
     * static files; 'metrics': a session or a caller on the box itself.
     */
    auth?: 'session' | 'public' | 'metrics';
    /** route allowed while the password must be changed */
    duringPasswordChange?: boolean;
  }
}

export type RouteAuth = 'session' | 'public' | 'metrics';
export interface RouteRecord {
  method: string;
  url: string;
  auth: RouteAuth;
}
