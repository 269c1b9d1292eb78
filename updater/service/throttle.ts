// Sign-in throttling per account *and* address, with a delay that grows with each failure: a
// stranger who keeps guessing slows down only their own attempts at that account, and cannot lock
// the admin out (the per-address limit of @fastify/rate-limit answers floods with 429). Unknown
// user names count like known ones, so the answers do not tell which accounts exist. Names are
// kept as a keyed hash, never as typed (people type passwords into the user field).
import { createHmac, randomBytes } from 'node:crypto';
import { type Db, getMeta, setMeta, stmt } from './db.ts';

export interface LoginThrottleLimits {
  /** failures from one address at one account before delays start (the next try waits) */
  freeFailures: number;
  /** the delay after the first counted failure; it doubles with each further one */
  baseDelayMs: number;
  maxDelayMs: number;
  /** failures older than this are forgotten */
  windowMs: number;
  /** rows kept at most (oldest dropped): a flood of made-up names cannot fill the disk */
  maxRows: number;
}

export const DEFAULT_THROTTLE: LoginThrottleLimits = {
  freeFailures: 5,
  baseDelayMs: 1_000,
  maxDelayMs: 15 * 60_000,
  windowMs: 24 * 3_600_000,
  maxRows: 10_000,
};

const KEY_META = 'login-throttle.key';

function throttleKey(db: Db): Buffer {
  let k = getMeta(db, KEY_META);
  if (!k) {
    k = randomBytes(32).toString('base64');
    setMeta(db, KEY_META, k);
  }
  return Buffer.from(k, 'base64');
}

/** The keyed hash an account name is stored as (same for every spelling of its case). */
function accountKey(db: Db, username: string): string {
  return createHmac('sha256', throttleKey(db))
    .update(username.normalize('NFKC').toLowerCase())
    .digest('base64url')
    .slice(0, 22);
}

export class LoginThrottle {
  constructor(
    private readonly db: Db,
    private readonly limits: LoginThrottleLimits,
    private readonly now: () => number,
  ) {}

  /** ms until this address may try this account again, 0 when it may now. */
  waitFor(username: string, address: string): number {
    const row = stmt(
      this.db,
      'SELECT next_allowed FROM service_login_throttle WHERE account_key = ? AND address = ?',
    ).get(accountKey(this.db, username), address) as { next_allowed: number } | undefined;
    return row ? Math.max(0, row.next_allowed - this.now()) : 0;
  }

  /** Counts a failure; returns the delay it set (0 while failures are free). */
  fail(username: string, address: string): number {
    const t = this.now();
    const key = accountKey(this.db, username);
    const L = this.limits;
    let delay = 0;
    this.db.transaction(() => {
      const row = stmt(
        this.db,
        'SELECT failures, last_failure FROM service_login_throttle WHERE account_key = ? AND address = ?',
      ).get(key, address) as { failures: number; last_failure: number } | undefined;
      const failures = !row || t - row.last_failure > L.windowMs ? 1 : row.failures + 1;
      const counted = failures - L.freeFailures + 1;
      delay = counted <= 0 ? 0 : Math.min(L.maxDelayMs, L.baseDelayMs * 2 ** Math.min(30, counted - 1));
      stmt(
        this.db,
        `INSERT INTO service_login_throttle (account_key, address, failures, last_failure, next_allowed)
           VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(account_key, address) DO UPDATE SET failures = excluded.failures,
           last_failure = excluded.last_failure, next_allowed = excluded.next_allowed`,
      ).run(key, address, failures, t, t + delay);
      stmt(this.db, 'DELETE FROM service_login_throttle WHERE last_failure < ?').run(t - L.windowMs);
      stmt(
        this.db,
        `DELETE FROM service_login_throttle WHERE rowid IN (SELECT rowid FROM service_login_throttle
           ORDER BY last_failure DESC LIMIT -1 OFFSET ?)`,
      ).run(L.maxRows);
    })();
    return delay;
  }

  /** A good sign-in ends the delays of this address at this account (others keep theirs). */
  succeed(username: string, address: string): void {
    stmt(this.db, 'DELETE FROM service_login_throttle WHERE account_key = ? AND address = ?').run(
      accountKey(this.db, username),
      address,
    );
  }
}

/** Ends every delay of an account, from every address: the console's password reset and unlock. */
export function endLoginDelays(db: Db, username: string): number {
  return stmt(db, 'DELETE FROM service_login_throttle WHERE account_key = ?').run(accountKey(db, username))
    .changes;
}
