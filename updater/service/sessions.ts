// Sessions in SQLite: the cookie carries 32 random bytes, the table only their sha256. Each session
// has its CSRF token, an idle timeout and an absolute timeout. Sign-in delays are throttle.ts's.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Db, stmt } from './db.ts';

export interface SessionLimits {
  idleMs: number;
  absoluteMs: number;
}

export interface Session {
  idHash: string;
  username: string;
  csrf: string;
  createdAt: number;
  lastSeen: number;
  from: string;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
}

const hashId = (id: string) => createHash('sha256').update(id).digest('hex');

export class SessionStore {
  constructor(
    private readonly db: Db,
    private readonly limits: SessionLimits,
    private readonly now: () => number,
  ) {}

  create(username: string, from: string): { id: string; session: Session } {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const t = this.now();
    stmt(
      this.db,
      'INSERT INTO service_sessions (id_hash, username, csrf, created_at, last_seen, from_addr) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(hashId(id), username, csrf, t, t, from);
    this.prune(t);
    return {
      id,
      session: this.shape({
        id_hash: hashId(id),
        username,
        csrf,
        created_at: t,
        last_seen: t,
        from_addr: from,
      }),
    };
  }

  /** The live session for a cookie value (touching its idle timer), or null; expired ones are deleted. */
  get(id: string | undefined, touch = true): Session | null {
    if (!id || id.length > 100) return null;
    const idHash = hashId(id);
    const row = stmt(this.db, 'SELECT * FROM service_sessions WHERE id_hash = ?').get(idHash) as
      | SessionRow
      | undefined;
    if (!row) return null;
    const t = this.now();
    if (t - row.last_seen > this.limits.idleMs || t - row.created_at > this.limits.absoluteMs) {
      stmt(this.db, 'DELETE FROM service_sessions WHERE id_hash = ?').run(idHash);
      return null;
    }
    // write at most every few seconds: status polling should not turn into a write per request
    if (touch && t - row.last_seen > 5_000) {
      stmt(this.db, 'UPDATE service_sessions SET last_seen = ? WHERE id_hash = ?').run(t, idHash);
      row.last_seen = t;
    }
    return this.shape(row);
  }

  /** Whether the session behind an id hash still lives (no touch): event streams ask on each heartbeat. */
  alive(idHash: string): boolean {
    const row = stmt(this.db, 'SELECT created_at, last_seen FROM service_sessions WHERE id_hash = ?').get(
      idHash,
    ) as { created_at: number; last_seen: number } | undefined;
    if (!row) return false;
    const t = this.now();
    return t - row.last_seen <= this.limits.idleMs && t - row.created_at <= this.limits.absoluteMs;
  }

  delete(idHash: string): void {
    stmt(this.db, 'DELETE FROM service_sessions WHERE id_hash = ?').run(idHash);
  }

  deleteOthers(username: string, keepIdHash: string): void {
    stmt(this.db, 'DELETE FROM service_sessions WHERE username = ? AND id_hash != ?').run(
      username,
      keepIdHash,
    );
  }

  private prune(t: number): void {
    stmt(this.db, 'DELETE FROM service_sessions WHERE last_seen < ? OR created_at < ?').run(
      t - this.limits.idleMs,
      t - this.limits.absoluteMs,
    );
  }

  private shape(row: SessionRow): Session {
    return {
      idHash: row.id_hash,
      username: row.username,
      csrf: row.csrf,
      createdAt: row.created_at,
      lastSeen: row.last_seen,
      from: row.from_addr,
      idleExpiresAt: row.last_seen + this.limits.idleMs,
      absoluteExpiresAt: row.created_at + this.limits.absoluteMs,
    };
  }
}

interface SessionRow {
  id_hash: string;
  username: string;
  csrf: string;
  created_at: number;
  last_seen: number;
  from_addr: string;
}

export function csrfMatches(session: Session, header: unknown): boolean {
  if (typeof header !== 'string' || header.length === 0) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(header);
  return a.length === b.length && timingSafeEqual(a, b);
}
