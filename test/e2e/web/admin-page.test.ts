// The admin page in real Chromium against a real `drydock updater serve` (child process, HTTPS on
// 127.0.0.1) whose box root was made by initBox with the demo 1.0.0 bundle on the stand-in cluster.
// The flows click through the page the way an administrator would; nothing is faked in between.
// Figures (first-load bytes, confirm → first progress) are printed, not asserted.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo, type Demo } from '../../../examples/demo/index.ts';
import { stopStandin } from '../../../updater/cluster/index.ts';
import { initBox } from '../../../updater/engine/index.ts';
import {
  confirmAndTime,
  ensureWebBuilt,
  guardNetwork,
  launchChromium,
  type NetworkGuard,
  type Service,
  screenshot,
  startService,
  trackTransfer,
} from './harness.ts';

// the first password as AWS first boot hands it over (the instance ID): a change is forced
const INITIAL_PASSWORD = 'i-0123456789abcdef0';
const PASSWORD = 'correct horse battery staple';
const run = promisify(execFile);

let demo: Demo;
let root: string;
let work: string;
let service: Service;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let guard: NetworkGuard;
/** uncaught exceptions and CSP refusals seen in the page */
const pageErrors: string[] = [];

beforeAll(async () => {
  await ensureWebBuilt();
  demo = await buildDemo();
  work = await mkdtemp(join(tmpdir(), 'drydock-web-'));
  root = join(work, 'box');
  await initBox({ root, trustPath: demo.rootPath, bundlePath: demo.bundles['1.0.0'], cluster: 'standin' });
  // first boot's hand-off of the first admin password, consumed by the service at start
  const secrets = join(root, 'var', 'lib', 'drydock', 'secrets');
  await mkdir(secrets, { recursive: true, mode: 0o700 });
  await writeFile(
    join(secrets, 'initial-admin.json'),
    JSON.stringify({ password: INITIAL_PASSWORD, source: 'instance-id', mustChange: true }),
    { mode: 0o600 },
  );
  service = await startService(root, ['--http-redirect', 'none', '--no-schedule']);
  browser = await launchChromium();
  context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  guard = await guardNetwork(context);
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) pageErrors.push(m.text());
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await service?.stop();
  if (root) await stopStandin(root).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

const progress = () => page.getByTestId('progress');
const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name });

/** Uploads a bundle through the file input and waits for the page's verdict. */
async function uploadBundle(path: string): Promise<void> {
  await page.goto(`${service.url}/#/update`);
  await page.getByLabel('Bundle file').setInputFiles(path);
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  await page
    .locator('[data-testid=upload-result], [data-testid=upload-error]')
    .first()
    .waitFor({ timeout: 60_000 });
}

describe('admin page (Chromium, real updater service, demo releases on the stand-in)', () => {
  it('first load is small; a wrong password is refused in plain words; a default password must be changed', async () => {
    const transfer = await trackTransfer(page);
    await page.goto(`${service.url}/`);
    await page.getByLabel('Password').waitFor();
    await page.waitForLoadState('networkidle');
    const bytes = transfer.total();
    const rows = [...transfer.byUrl()].map(([u, n]) => `  ${n} B  ${new URL(u).pathname}`).join('\n');
    console.log(
      `[figure] first load transferred: ${bytes} B (${(bytes / 1024).toFixed(1)} KB; goal ≤ 150 KB)\n${rows}`,
    );
    expect(bytes).toBeGreaterThan(0);
    await screenshot(page, 'sign-in');

    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('wrong');

    await page.getByLabel('Password').fill(INITIAL_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    await page.getByLabel('Current password').fill(INITIAL_PASSWORD);
    await page.getByLabel('New password', { exact: true }).fill('short');
    await page.getByLabel('New password again').fill('short');
    await page.getByRole('button', { name: 'Change password' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('at least 12 characters');
    await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('New password again').fill(PASSWORD);
    await screenshot(page, 'password-change');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    // the new password is the one that works now: sign out and in again
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await expect.poll(() => page.getByTestId('running-version').textContent()).toBe('1.0.0');
    await screenshot(page, 'overview');
  }, 60_000);

  it('updates 1.0.0 → 1.1.0 by clicking: upload, confirmation, live steps, outcome', async () => {
    await nav('Software Update').click();
    await page.getByRole('heading', { name: 'Software Update', level: 1 }).waitFor();
    // a slow link (CDP throttling, ~1 MB/s up) so the upload's own progress is seen on screen
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 1024 * 1024,
    });
    await page.goto(`${service.url}/#/update`);
    await page.getByLabel('Bundle file').setInputFiles(demo.bundles['1.1.0']);
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    const uploading = page.getByTestId('upload-progress');
    await expect
      .poll(() => uploading.textContent(), { timeout: 30_000 })
      .toMatch(/Uploaded [\d.]+ (B|KB|MB) of 1\.0 MB/);
    await uploading.scrollIntoViewIfNeeded();
    await screenshot(page, 'upload-progress');
    await page.getByTestId('upload-result').waitFor({ timeout: 60_000 });
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
    await cdp.detach();
    expect(await page.getByTestId('upload-result').textContent()).toContain('1.1.0');
    await page.getByRole('button', { name: 'Install 1.1.0 now' }).click();
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    const text = (await dialog.textContent()) ?? '';
    expect(text).toContain('snapshot');
    expect(text).toMatch(/unavailable for up to \d+ (s|min)/);
    // focus starts inside the dialog, on the safe choice
    expect(await page.evaluate(() => document.activeElement?.closest('dialog') !== null)).toBe(true);
    await screenshot(page, 'update-confirm');
    const ms = await confirmAndTime(page);
    console.log(
      `[figure] confirm → first progress on screen: ${ms.total.toFixed(1)} ms (goal ≤ 200 ms); of which the service, request → first event: ${ms.service?.toFixed(1) ?? '?'} ms`,
    );
    // every other action waits while the update runs
    await expect.poll(() => page.getByRole('button', { name: 'Check for updates' }).isDisabled()).toBe(true);
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'update-progress');
    await page.locator('[data-testid=outcome][data-outcome=committed]').waitFor({ timeout: 120_000 });
    await expect.poll(() => page.getByTestId('su-version').textContent(), { timeout: 10_000 }).toBe('1.1.0');
    expect(await progress().locator('li[data-status=done]').count()).toBe(5);
    await expect.poll(() => page.getByRole('button', { name: 'Check for updates' }).isDisabled()).toBe(false);
    await screenshot(page, 'update-done');
  }, 180_000);

  it('a tampered bundle is refused with a clear message and nothing is staged', async () => {
    const bad = join(work, 'tampered-1.2.0.drydock');
    const body = await readFile(demo.bundles['1.2.0']);
    // one flipped byte inside the image layer, the bulk of the file
    const at = Math.floor(body.length / 2);
    body[at] = (body[at] ?? 0) ^ 0xff;
    await writeFile(bad, body);
    await uploadBundle(bad);
    const msg = (await page.getByTestId('upload-error').textContent()) ?? '';
    console.log(`tampered upload message: ${msg}`);
    expect(msg).toMatch(/Nothing was installed|Download it again/);
    expect(await page.getByTestId('su-version').textContent()).toBe('1.1.0');
    expect(await page.getByRole('button', { name: /^Install .* now$/ }).count()).toBe(0);
    await screenshot(page, 'upload-refused');
  }, 120_000);

  it('1.2.0 rolls back by itself; the page keeps its progress over a reload and says why', async () => {
    const copy = join(work, 'drydock-demo-1.2.0.drydock');
    await copyFile(demo.bundles['1.2.0'], copy);
    await uploadBundle(copy);
    await expect.poll(() => page.getByTestId('upload-result').textContent()).toContain('1.2.0');
    await page.getByRole('button', { name: 'Install 1.2.0 now' }).click();
    await page.locator('dialog[open]').waitFor();
    await page.locator('dialog[open] button[data-confirm]').click();
    // while it waits for health: reload, and the same step is still shown as running
    await progress().locator('li[data-step=health][data-status=active]').waitFor({ timeout: 60_000 });
    await page.reload();
    await progress()
      .locator('li[data-step=health][data-status=active], [data-outcome]')
      .first()
      .waitFor({ timeout: 30_000 });
    await page.getByTestId('auto-rollback').waitFor({ timeout: 120_000 });
    const account = (await page.getByTestId('auto-rollback').textContent()) ?? '';
    expect(account).toContain('1.2.0 was rolled back automatically');
    expect(account).toContain('Why:');
    expect(await page.getByTestId('su-version').textContent()).toBe('1.1.0');
    const hist = page.locator('li.hist-auto').first();
    expect(await hist.textContent()).toContain('Rolled back automatically because');
    await screenshot(page, 'auto-rollback');
  }, 240_000);

  it('rolls back to 1.0.0 by clicking', async () => {
    const button = page.getByRole('button', { name: 'Roll back to 1.0.0' });
    // keyboard: Enter opens the confirmation, Escape cancels it and focus returns to the button
    await button.focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.count()).toBe(0);
    expect(await button.evaluate((b) => b === document.activeElement)).toBe(true);
    expect(await page.getByTestId('su-version').textContent()).toBe('1.1.0');
    await page.keyboard.press('Enter');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('goes back to 1.0.0');
    await dialog.locator('button[data-confirm]').click();
    await page
      .locator('[data-testid=outcome][data-outcome=rolled-back][data-operation=rollback]')
      .waitFor({ timeout: 120_000 });
    await expect.poll(() => page.getByTestId('su-version').textContent(), { timeout: 10_000 }).toBe('1.0.0');
    expect(await page.locator('li.hist').first().textContent()).toContain('Rollback');
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'rollback-done');
    await page.getByRole('heading', { name: 'History' }).scrollIntoViewIfNeeded();
    await screenshot(page, 'history');
  }, 180_000);

  it('settings save and read back; a certificate is replaced (a mismatched key refused); support bundle downloads; narrow layout', async () => {
    await nav('Settings').click();
    await page.getByLabel('Check schedule').fill('15 4 * * *');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.locator('form [role=status], form [role=alert]').first().waitFor();
    expect(
      await page.locator('form [role=alert]').count(),
      (await page.locator('form').first().textContent()) ?? '',
    ).toBe(0);
    await page.getByText('Settings saved.').waitFor();
    await page.reload();
    await expect.poll(() => page.getByLabel('Check schedule').inputValue()).toBe('15 4 * * *');
    await screenshot(page, 'settings');

    // certificate: a key that does not match is refused in words; the matching pair is taken at once
    const tls = join(work, 'tls');
    await mkdir(tls);
    const make = (name: string) =>
      run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '30',
        '-subj',
        '/CN=admin.example.test',
        '-addext',
        'subjectAltName=DNS:admin.example.test,IP:127.0.0.1',
        '-keyout',
        join(tls, `${name}.key`),
        '-out',
        join(tls, `${name}.crt`),
      ]);
    await make('a');
    await make('b');
    await page.getByLabel('Certificate (PEM)').setInputFiles(join(tls, 'a.crt'));
    await page.getByLabel('Private key (PEM)').setInputFiles(join(tls, 'b.key'));
    await page.getByRole('button', { name: 'Upload certificate' }).click();
    const tlsCard = page.getByRole('region', { name: 'HTTPS certificate' });
    await tlsCard.getByRole('alert').waitFor();
    const tlsError = (await tlsCard.getByRole('alert').textContent()) ?? '';
    console.log(`mismatched certificate message: ${tlsError}`);
    expect(tlsError).toContain('matching private key');
    expect(await tlsCard.getByTestId('tls-current').textContent()).toContain('Self-signed');
    await page.getByLabel('Private key (PEM)').setInputFiles(join(tls, 'a.key'));
    await page.getByRole('button', { name: 'Upload certificate' }).click();
    await tlsCard.getByText('Certificate installed.').waitFor();
    expect(await tlsCard.getByTestId('tls-current').textContent()).toContain('admin.example.test');

    await nav('Support').click();
    await page.locator('table').waitFor();
    await screenshot(page, 'support');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download support bundle' }).click(),
    ]);
    const bundle = await readFile((await download.path())!);
    expect(bundle.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(bundle.length).toBeGreaterThan(200);
    await page.setViewportSize({ width: 400, height: 800 });
    await nav('Software Update').click();
    await page.getByRole('heading', { name: 'Software Update', level: 1 }).waitFor();
    // nothing wider than the window
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(400);
    await screenshot(page, 'narrow-software-update');
    await page.setViewportSize({ width: 1280, height: 800 });
  }, 60_000);

  it('an ended session sends the page back to sign-in', async () => {
    await nav('Software Update').click();
    // sign out in a second tab of the same browser: the first tab's session is gone with it
    const other = await context.newPage();
    await other.goto(`${service.url}/`);
    await other.getByRole('button', { name: 'Sign out' }).click();
    await other.getByLabel('Password').waitFor();
    await other.close();
    await page.getByRole('button', { name: 'Check for updates' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: 10_000 });
  }, 60_000);

  it('the page threw nothing and the CSP refused nothing', () => {
    expect(pageErrors).toEqual([]);
  });

  it('no request left 127.0.0.1', () => {
    expect(guard.urls.length).toBeGreaterThan(10);
    expect(guard.outside).toEqual([]);
    for (const u of guard.urls) expect(new URL(u).hostname).toBe('127.0.0.1');
  });
});
