// The online path of the admin page: the demo releases published to a channel (a static TUF
// repository served from 127.0.0.1), the channel address set on the Settings screen, then
// "Check for updates" and "Update now" with live download progress. Real Chromium, real
// `drydock updater serve`, stand-in cluster.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo } from '../../../examples/demo/index.ts';
import { publishBundle } from '../../../updater/channel/index.ts';
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
  serveStatic,
  startService,
} from './harness.ts';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a harbour of quiet lanterns';
let work: string;
let root: string;
let channel: { url: string; close: () => Promise<void> };
let service: Service;
let browser: Browser;
let page: Page;
let guard: NetworkGuard;

beforeAll(async () => {
  await ensureWebBuilt();
  const demo = await buildDemo();
  work = await mkdtemp(join(tmpdir(), 'drydock-web-online-'));
  const repo = join(work, 'repo');
  for (const v of ['1.1.0', '1.2.0'] as const)
    await publishBundle({ bundlePath: demo.bundles[v], repoDir: repo, keysDir: demo.keysDir });
  // blobs trickle in (512 B every 150 ms) so the download's byte progress is on screen a while
  channel = await serveStatic(repo, { slowBlobs: { chunk: 512, delayMs: 150 } });
  root = join(work, 'box');
  const pw = join(work, 'pw');
  await writeFile(pw, `${PASSWORD}\n`, { mode: 0o600 });
  await initBox({
    root,
    trustPath: demo.rootPath,
    bundlePath: demo.bundles['1.0.0'],
    cluster: 'standin',
    adminPasswordFile: pw,
  });
  service = await startService(root, ['--http-redirect', 'none', '--no-schedule']);
  browser = await launchChromium();
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
  });
  guard = await guardNetwork(context);
  page = await context.newPage();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await service?.stop();
  await channel?.close();
  if (root) await stopStandin(root).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

describe('admin page, online channel', () => {
  it('sets the channel, checks, and updates 1.0.0 → 1.1.0 with "Update now"', async () => {
    await page.goto(`${service.url}/#/settings`);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // box init's password came from a deployer: the page asks for a new one first
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    await page.getByLabel('Current password').fill(PASSWORD);
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('New password again').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Change password' }).click();
    // then the page it was asked for (settings)
    await page.getByLabel('Update channel address').fill(channel.url);
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings saved.').waitFor();

    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Software Update' })
      .click();
    await page.getByRole('button', { name: 'Check for updates' }).click();
    await page
      .locator('[data-testid=update-notice], [data-testid=update-error]')
      .first()
      .waitFor({ timeout: 60_000 });
    expect(
      await page.getByTestId('update-error').count(),
      (await page.locator('main').textContent()) ?? '',
    ).toBe(0);
    const release = page.locator('li.release[data-version="1.1.0"]');
    await release.waitFor();
    // the notes are the release's own Markdown, rendered as elements
    expect(await release.locator('.notes').count()).toBe(1);
    await screenshot(page, 'available-releases');

    await release.getByRole('button', { name: 'Update now' }).click();
    const dialog = page.locator('dialog[open]');
    await dialog.waitFor();
    expect(await dialog.getByTestId('confirm-download').textContent()).toMatch(/Downloads [\d.]+ (B|KB|MB)/);
    const ms = await confirmAndTime(page);
    console.log(
      `[figure] online: confirm → first progress on screen: ${ms.total.toFixed(1)} ms (goal ≤ 200 ms); of which the service, request → first event: ${ms.service?.toFixed(1) ?? '?'} ms`,
    );
    // the download step shows its bytes while they arrive
    const download = page.locator('li[data-step=download][data-status=active] .step-detail');
    await expect
      .poll(() => download.textContent(), { timeout: 30_000 })
      .toMatch(/[\d.]+ (B|KB) of [\d.]+ KB/);
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'download-progress');
    await page.locator('[data-testid=outcome][data-outcome=committed]').waitFor({ timeout: 120_000 });
    await expect.poll(() => page.getByTestId('su-version').textContent(), { timeout: 10_000 }).toBe('1.1.0');
  }, 240_000);

  it('the browser asked nothing of any host but 127.0.0.1', () => {
    expect(guard.urls.length).toBeGreaterThan(5);
    expect(guard.outside).toEqual([]);
    for (const u of guard.urls) expect(new URL(u).hostname).toBe('127.0.0.1');
  });
});
