// Run by unprivileged.test.ts as an unprivileged user: the stand-in with user namespaces
// (unshare --user --map-root-user) and umoci --rootless. Prints one JSON line.
import { createClusterDriver } from '../../updater/cluster/index.ts';
import { demoImage, demoManifests, openStore, until } from './helpers.ts';

const root = process.argv[2]!;
const d = createClusterDriver('standin', { root });
const web = [{ kind: 'Deployment' as const, namespace: 'demo', name: 'web' }];
try {
  const store = await openStore(`${root}/blobs`);
  for (const v of ['1.1.0', '1.2.0'])
    await d.importImages([await demoImage(store, `web-${v}`, `demo.local/drydock-demo/web:${v}`)], store);
  await d.applyManifests({ name: 'demo', version: '1.1.0' }, await demoManifests('1.1.0'), null);
  const ready = await until(
    () => d.workloads(web),
    (h) => h[0]!.ready,
    15000,
  );
  const probe = await d.probe({
    name: 'page',
    url: 'http://127.0.0.1:30080/',
    expectStatus: 200,
    expectBody: '1.1.0',
    timeoutSeconds: 2,
  });
  await d.applyManifests(
    { name: 'demo', version: '1.2.0' },
    await demoManifests('1.2.0'),
    await demoManifests('1.1.0'),
  );
  const broken = await until(
    () => d.workloads(web),
    (h) => h[0]!.message.includes('CrashLoopBackOff'),
    15000,
  );
  console.log(
    JSON.stringify({ uid: process.getuid?.(), ready: ready.value[0], probe, broken: broken.value[0] }),
  );
} finally {
  await d.shutdown();
}
