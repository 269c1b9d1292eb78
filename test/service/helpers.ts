// Shared by the service tests: a real service on 127.0.0.1 (random port, real TLS, real SQLite
// state.db under a temp box root) and a small HTTPS client that trusts exactly that certificate.
// TestBox stands in for the engine only in the tests of the HTTP layer (auth, CSRF, limits, upload
// streaming, locking, events); the flows that need the engine's verification use the real engine.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  Actor,
  AuditEntry,
  Box,
  BoxStatus,
  HistoryEntry,
  ReleaseSummary,
  Settings,
  UpdateEvent,
  UpdateState,
} from '../../updater/engine/api.ts';
import {
  type Limits,
  openServiceDatabase,
  type RunningService,
  setAdminPassword,
  startService,
} from '../../updater/service/index.ts';

export class TestBox implements Box {
  readonly root: string;
  state: UpdateState = 'idle';
  listeners = new Set<(e: UpdateEvent) => void>();
  audits: AuditEntry[] = [];
  staged: { path: string; bytes: number }[] = [];
  applyMs = 300;
  applies = 0;
  statusCalls = 0;
  settings: Settings = {
    channelUrl: null,
    checkSchedule: '0 3 * * *',
    autoStage: false,
    autoApply: false,
    maintenanceWindow: null,
  };
  constructor(root: string) {
    this.root = root;
  }
  emit(e: UpdateEvent) {
    if (e.type === 'state') this.state = e.state;
    for (const l of this.listeners) l(e);
  }
  async status(): Promise<BoxStatus> {
    this.statusCalls++;
    return {
      running: {
        name: 'demo',
        version: '1.0.0',
        k3sVersion: 'v1.31.4+k3s1',
        installedAt: '2026-01-01T00:00:00.000Z',
      },
      previous: null,
      state: this.state,
      target: null,
      progress: null,
      lastError: null,
      workloads: [{ kind: 'Deployment', namespace: 'demo', name: 'web', ready: true, message: '1/1 ready' }],
      disk: { path: this.root, totalBytes: 100, freeBytes: 50 },
      lastCheck: null,
      available: [],
      history: [],
    };
  }
  subscribe(l: (e: UpdateEvent) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  async check(_a: Actor): Promise<ReleaseSummary[]> {
    return [];
  }
  async download(_a: Actor): Promise<void> {}
  async stage(_a: Actor, path: string): Promise<ReleaseSummary> {
    this.staged.push({ path, bytes: (await readFile(path)).length });
    return {
      name: 'demo',
      version: '1.1.0',
      channel: 'stable',
      upgradeFrom: '>=1.0.0',
      notes: '',
      downloadBytes: 0,
      totalBytes: 1,
      deadlineSeconds: 20,
      changesData: false,
      installable: true,
    };
  }
  async apply(_a: Actor): Promise<HistoryEntry> {
    this.applies++;
    this.emit({
      type: 'state',
      state: 'applying',
      target: { name: 'demo', version: '1.1.0' },
      at: new Date().toISOString(),
    });
    await new Promise((r) => setTimeout(r, this.applyMs));
    this.emit({
      type: 'state',
      state: 'committed',
      target: { name: 'demo', version: '1.1.0' },
      at: new Date().toISOString(),
    });
    return {
      id: 1,
      fromVersion: '1.0.0',
      toVersion: '1.1.0',
      kind: 'update',
      outcome: 'committed',
      reason: null,
      automatic: false,
      startedAt: '',
      finishedAt: '',
      actor: 'admin',
      steps: { apply: 1 },
    };
  }
  async install(a: Actor, p: string) {
    await this.stage(a, p);
    return this.apply(a);
  }
  async cancel() {}
  async rollback(a: Actor) {
    return this.apply(a);
  }
  async rollbackPlan() {
    return null;
  }
  async history() {
    return [];
  }
  async audit() {
    return this.audits;
  }
  async recordAudit(actor: Actor, action: string, detail: string, result: 'ok' | 'error') {
    this.audits.unshift({
      id: this.audits.length + 1,
      at: new Date().toISOString(),
      user: actor.user,
      from: actor.from,
      action,
      detail,
      result,
    });
  }
  async getSettings() {
    return this.settings;
  }
  async putSettings(_a: Actor, s: Partial<Settings>) {
    this.settings = { ...this.settings, ...s };
    return this.settings;
  }
  async releaseDocument() {
    return null;
  }
  async close() {}
}

export const PASSWORD = 'a long test passphrase';

export interface Harness {
  root: string;
  svc: RunningService;
  ca: Buffer;
  port: number;
  clock: { now: number };
  close(): Promise<void>;
}

export async function startHarness(
  opts: {
    box?: (root: string) => Box;
    limits?: Partial<Limits>;
    mustChange?: boolean;
    root?: string;
    host?: string;
    logStdout?: NodeJS.WritableStream | null;
  } = {},
): Promise<Harness & { box: TestBox }> {
  const root = opts.root ?? (await mkdtemp(join(tmpdir(), 'drydock-svc-')));
  const web = join(root, 'web');
  await mkdir(join(web, 'assets'), { recursive: true });
  await writeFile(join(web, 'index.html'), '<!doctype html><title>Drydock</title><div id="app"></div>');
  await writeFile(join(web, 'assets', 'app-123.js'), `console.log(${JSON.stringify('x'.repeat(20000))});`);
  const db = openServiceDatabase(root);
  await setAdminPassword(db, PASSWORD, { mustChange: opts.mustChange ?? false });
  db.close();
  const box = opts.box ? opts.box(root) : new TestBox(root);
  const clock = { now: Date.now() };
  const svc = await startService({
    root,
    listen: { host: opts.host ?? '127.0.0.1', port: 0 },
    redirect: { host: '127.0.0.1', port: 0 },
    box,
    webDir: web,
    logStdout: opts.logStdout ?? null,
    schedule: false,
    limits: opts.limits,
    now: () => clock.now,
  });
  const port = (svc.app.server.address() as { port: number }).port;
  const ca = await readFile(join(root, 'etc', 'drydock', 'tls', 'cert.pem'));
  return {
    root,
    svc,
    ca,
    port,
    clock,
    box: box as TestBox,
    async close() {
      await svc.close();
      if (!opts.root) await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    },
  };
}

export interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json: () => any;
}

export function call(
  h: { port: number; ca: Buffer; host?: string },
  method: string,
  path: string,
  opts: {
    body?: unknown;
    raw?: Buffer | NodeJS.ReadableStream;
    headers?: Record<string, string>;
    cookie?: string;
    csrf?: string;
    /** the client's own address (any of 127.0.0.0/8): a second caller on the same machine */
    from?: string;
  } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    let payload: Buffer | undefined;
    if (opts.body !== undefined) {
      payload = Buffer.from(JSON.stringify(opts.body));
      headers['content-type'] = 'application/json';
    } else if (Buffer.isBuffer(opts.raw)) {
      payload = opts.raw;
      headers['content-type'] ??= 'application/octet-stream';
    }
    if (payload) headers['content-length'] = String(payload.length);
    if (opts.cookie) headers.cookie = opts.cookie;
    if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
    const o: RequestOptions = {
      host: h.host ?? '127.0.0.1',
      port: h.port,
      method,
      path,
      headers,
      ca: h.ca,
      ...(opts.from ? { localAddress: opts.from, agent: false } : {}),
    };
    const req = httpsRequest(o, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          json: () => JSON.parse(body.toString('utf8')),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (payload) req.end(payload);
    else if (opts.raw) (opts.raw as NodeJS.ReadableStream).pipe(req);
    else req.end();
  });
}

export async function login(
  h: { port: number; ca: Buffer },
  password = PASSWORD,
): Promise<{ cookie: string; csrf: string; res: Res }> {
  const res = await call(h, 'POST', '/api/v1/login', { body: { username: 'admin', password } });
  const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const cookie = (set[0] ?? '').split(';')[0] ?? '';
  return { cookie, csrf: res.status === 200 ? res.json().csrfToken : '', res };
}
