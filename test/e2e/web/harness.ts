// Test harness for the admin page: real Chromium (Debian's package) through playwright-core, a real
// `drydock updater serve` child process on 127.0.0.1, and a guard that records every request the
// page makes so a test can prove none left 127.0.0.1.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const REPO = fileURLToPath(new URL('../../..', import.meta.url));
export const DIST = join(REPO, 'web', 'dist');
export const SCREENSHOTS = join(REPO, 'docs', 'screenshots');

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/**
 * Builds web/dist when it is missing (npm test builds it in pretest; a direct vitest run may not).
 * Under flock, so the e2e files that vitest runs in parallel do not build over each other.
 */
export async function ensureWebBuilt(): Promise<void> {
  if (existsSync(join(DIST, 'index.html'))) return;
  const vite = join(REPO, 'node_modules', '.bin', 'vite');
  await promisify(execFile)(
    'flock',
    [
      join(tmpdir(), 'drydock-web-build.lock'),
      'sh',
      '-c',
      `[ -f web/dist/index.html ] || "${vite}" build --config web/vite.config.ts`,
    ],
    { cwd: REPO },
  );
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** GET over HTTPS to the service, accepting its self-signed certificate (loopback only). */
export function httpsGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'GET', rejectUnauthorized: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

export interface Service {
  url: string;
  port: number;
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts `drydock updater serve --root ROOT --listen 127.0.0.1:PORT` and waits until it answers. */
export async function startService(
  root: string,
  extraArgs: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<Service> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      join(REPO, 'bin', 'drydock.js'),
      'updater',
      'serve',
      '--root',
      root,
      '--listen',
      `127.0.0.1:${port}`,
      ...extraArgs,
    ],
    { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const url = `https://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`drydock updater serve exited ${child.exitCode}:\n${out}`);
    try {
      const r = await httpsGet(`${url}/api/v1/session`);
      if (r.status > 0) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`drydock updater serve did not answer within 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    port,
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

export interface NetworkGuard {
  /** every URL the page asked for */
  urls: string[];
  /** URLs whose host was not 127.0.0.1 (they were aborted) */
  outside: string[];
}

/** Routes every request of the context: loopback ones go through, anything else is aborted and recorded. */
export async function guardNetwork(context: BrowserContext): Promise<NetworkGuard> {
  const guard: NetworkGuard = { urls: [], outside: [] };
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    guard.urls.push(url);
    const u = new URL(url);
    if (u.protocol === 'data:' || u.protocol === 'blob:' || u.hostname === '127.0.0.1')
      await route.continue();
    else {
      guard.outside.push(url);
      await route.abort('blockedbyclient');
    }
  });
  // EventSource and navigations show up here as well; record them in case routing missed any
  context.on('request', (req) => {
    const url = req.url();
    if (!guard.urls.includes(url)) guard.urls.push(url);
    const u = new URL(url);
    if (
      u.protocol !== 'data:' &&
      u.protocol !== 'blob:' &&
      u.hostname !== '127.0.0.1' &&
      !guard.outside.includes(url)
    )
      guard.outside.push(url);
  });
  return guard;
}

/** Bytes on the wire (headers + encoded bodies) for everything the page loads, via CDP. */
export async function trackTransfer(
  page: Page,
): Promise<{ total: () => number; byUrl: () => Map<string, number> }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const urls = new Map<string, string>();
  const sizes = new Map<string, number>();
  cdp.on('Network.requestWillBeSent', (e: { requestId: string; request: { url: string } }) => {
    urls.set(e.requestId, e.request.url);
  });
  cdp.on('Network.loadingFinished', (e: { requestId: string; encodedDataLength: number }) => {
    sizes.set(e.requestId, e.encodedDataLength);
  });
  return {
    total: () => [...sizes.values()].reduce((a, b) => a + b, 0),
    byUrl: () => {
      const m = new Map<string, number>();
      for (const [id, n] of sizes) m.set(urls.get(id) ?? id, n);
      return m;
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

/**
 * A static file server on 127.0.0.1 for a channel repository (Range requests supported). `slowBlobs`
 * sends blobs in small timed chunks, like a slow link, so download progress can be watched.
 */
export async function serveStatic(
  dir: string,
  opts: { slowBlobs?: { chunk: number; delayMs: number } } = {},
): Promise<{ url: string; close: () => Promise<void> }> {
  const { createServer: createHttpServer } = await import('node:http');
  const { createReadStream } = await import('node:fs');
  const { stat } = await import('node:fs/promises');
  const { normalize } = await import('node:path');
  const server = createHttpServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = join(dir, normalize(path).replace(/^(\.\.[/\\])+/, ''));
    const s = await stat(file).catch(() => null);
    if (!s?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = s.size - 1;
    if (m) {
      start = Number(m[1]);
      if (m[2]) end = Number(m[2]);
      if (start >= s.size) {
        res.writeHead(416, { 'content-range': `bytes */${s.size}` }).end();
        return;
      }
      res.writeHead(206, {
        'content-range': `bytes ${start}-${end}/${s.size}`,
        'content-length': end - start + 1,
      });
    } else res.writeHead(200, { 'content-length': s.size, 'accept-ranges': 'bytes' });
    const slow = opts.slowBlobs;
    if (slow && path.includes('/blobs/')) {
      const body = (await readFile(file)).subarray(start, end + 1);
      for (let o = 0; o < body.length && !res.destroyed; o += slow.chunk) {
        res.write(body.subarray(o, o + slow.chunk));
        await new Promise((r) => setTimeout(r, slow.delayMs));
      }
      res.end();
      return;
    }
    createReadStream(file, { start, end }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Clicks the confirmation's confirm button and measures, in the page, the ms until the first step
 * the service reports as running is drawn. CDP network timestamps split off the service's share:
 * from the page's POST /api/v1/update/* to the first state/progress event on the stream.
 */
export async function confirmAndTime(page: Page): Promise<{ total: number; service: number | null }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  let sent: number | null = null;
  let firstEvent: number | null = null;
  cdp.on(
    'Network.requestWillBeSent',
    (e: { timestamp: number; request: { url: string; method: string } }) => {
      if (sent === null && e.request.method === 'POST' && e.request.url.includes('/api/v1/update/'))
        sent = e.timestamp;
    },
  );
  cdp.on('Network.eventSourceMessageReceived', (e: { timestamp: number; eventName: string }) => {
    if (sent !== null && firstEvent === null && (e.eventName === 'state' || e.eventName === 'progress'))
      firstEvent = e.timestamp;
  });
  await page.evaluate(() => {
    const w = window as unknown as { __t: { click?: number; progress?: number } };
    w.__t = {};
    document.addEventListener(
      'click',
      (e) => {
        if ((e.target as Element).closest('dialog button[data-confirm]')) w.__t.click = performance.now();
      },
      { capture: true, once: true },
    );
    const seen = () =>
      document.querySelector('[data-testid=progress]:not([hidden]) li[data-status=active]') !== null;
    new MutationObserver((_m, obs) => {
      if (w.__t.click !== undefined && seen()) {
        w.__t.progress = performance.now();
        obs.disconnect();
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  await page.locator('dialog[open] button[data-confirm]').click();
  await page.waitForFunction(
    () => (window as unknown as { __t: { progress?: number } }).__t.progress !== undefined,
    undefined,
    { timeout: 30_000 },
  );
  const total = await page.evaluate(() => {
    const t = (window as unknown as { __t: { click: number; progress: number } }).__t;
    return t.progress - t.click;
  });
  await cdp.detach();
  const s = sent as number | null;
  const f = firstEvent as number | null;
  return { total, service: s !== null && f !== null ? (f - s) * 1000 : null };
}
