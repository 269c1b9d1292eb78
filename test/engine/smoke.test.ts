import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { initBox, openBox } from '../../updater/engine/index.ts';
import { FakeDriver, fakeBundle, fakeReadBundle, fakeReadBundleHead } from './fake.ts';

test('init, update, automatic rollback, explicit rollback (in-test driver)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'eng-'));
  const root = join(dir, 'root');
  const trust = join(dir, 'root.json');
  await writeFile(trust, JSON.stringify({ signed: { _type: 'root' }, signatures: [] }));
  await fakeBundle(join(dir, 'b1'), '1.0.0');
  await fakeBundle(join(dir, 'b2'), '1.1.0');
  await fakeBundle(join(dir, 'b3'), '1.2.0', { broken: true });
  const driver = new FakeDriver();
  const common = {
    readBundle: fakeReadBundle,
    readBundleHead: fakeReadBundleHead,
    driverFactory: () => driver,
    clock: {
      now: () => Date.now(),
      sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 20))),
    },
  };
  const e1 = await initBox({
    root,
    trustPath: trust,
    bundlePath: join(dir, 'b1'),
    cluster: 'standin',
    ...common,
  });
  expect(e1.outcome).toBe('committed');
  const box = await openBox({ root, cluster: driver, ...common });
  const e2 = await box.install({ user: 't', from: 'x' }, join(dir, 'b2'));
  expect(e2.outcome).toBe('committed');
  const e3 = await box.install({ user: 't', from: 'x' }, join(dir, 'b3'));
  expect(e3.outcome).toBe('rolled-back');
  expect(e3.automatic).toBe(true);
  expect(e3.reason).toMatch(/CrashLoopBackOff/);
  expect(driver.appliedVersion).toBe('1.1.0');
  const e4 = await box.rollback({ user: 't', from: 'x' });
  expect(e4.outcome).toBe('rolled-back');
  const s = await box.status();
  expect(s.running?.version).toBe('1.0.0');
  expect(driver.appliedVersion).toBe('1.0.0');
  await box.close();
});
