// The whole `publish-ami` flow against the stand-in: snapshot, image in the first region with the
// properties the appliance needs, copies in the others, shares, tags, SSM parameters and the JSON
// file; a rerun after a failure part-way repeats nothing that was done; bad input touches nothing.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { journalPathFor, publishAmi } from '../../images/ami/index.ts';
import { BLOCK, makeDisk } from './disk.ts';
import { FakeAws } from './fake-aws.ts';

const fast = { waitDelays: { min: 0.001, max: 0.002 }, maxWaitSeconds: 10 };
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-southeast-2'];
const ACCOUNTS = ['111122223333', '444455556666'];
let dir: string;
let disk: string;
let fake: FakeAws;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drydock-publish-'));
  disk = join(dir, 'golden.raw');
  await makeDisk(disk, 16 * BLOCK, [0, 1, 5, 9, 15]);
  fake = new FakeAws();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const publish = (extra: Partial<Parameters<typeof publishAmi>[0]> = {}) =>
  publishAmi({
    clients: fake.clients,
    diskPath: disk,
    name: 'drydock-demo 1.0.0',
    regions: REGIONS,
    shareWith: ACCOUNTS,
    outPath: join(dir, 'amis.json'),
    ssmParameter: '/drydock/demo/ami',
    concurrency: 3,
    ...fast,
    ...extra,
  });

describe('publish-ami', () => {
  test('registers, copies, shares, tags and publishes the AMI ids', async () => {
    const res = await publish();
    expect(Object.keys(res.amis)).toEqual(REGIONS);
    for (const region of REGIONS) {
      const r = fake.region(region);
      const image = r.images.get(res.amis[region]!)!;
      expect(image.state).toBe('available');
      expect(image.name).toBe('drydock-demo 1.0.0');
      expect([...image.launchPermission].sort()).toEqual(ACCOUNTS);
      expect(image.tags['drydock:image']).toBe('drydock-demo 1.0.0');
      for (const sid of image.snapshotIds) {
        expect([...r.snapshots.get(sid)!.createVolumePermission].sort()).toEqual(ACCOUNTS);
        expect(r.snapshots.get(sid)!.tags.Name).toBe('drydock-demo 1.0.0');
      }
      expect(r.params.get('/drydock/demo/ami')).toEqual({
        value: res.amis[region],
        dataType: 'aws:ec2:image',
      });
    }
    // the image is registered as the appliance needs it
    const home = fake.region('eu-west-1').images.get(res.amis['eu-west-1']!)!;
    expect(home.request).toMatchObject({
      Architecture: 'x86_64',
      VirtualizationType: 'hvm',
      EnaSupport: true,
      BootMode: 'uefi-preferred',
      ImdsSupport: 'v2.0',
      RootDeviceName: '/dev/xvda',
      BlockDeviceMappings: [
        {
          DeviceName: '/dev/xvda',
          Ebs: { SnapshotId: res.snapshotId, VolumeType: 'gp3', DeleteOnTermination: true },
        },
      ],
    });
    // the snapshot is made once, in the first region only
    expect(fake.calls.filter((c) => c.command === 'StartSnapshot').map((c) => c.region)).toEqual([
      'eu-west-1',
    ]);
    expect(
      fake.calls
        .filter((c) => c.command === 'CopyImage')
        .map((c) => c.region)
        .sort(),
    ).toEqual(['ap-southeast-2', 'us-east-1']);
    const json = JSON.parse(await readFile(join(dir, 'amis.json'), 'utf8'));
    expect(json).toEqual({
      name: 'drydock-demo 1.0.0',
      bootMode: 'uefi-preferred',
      snapshotId: res.snapshotId,
      amis: res.amis,
      ssmParameter: '/drydock/demo/ami',
      sharedWith: ACCOUNTS,
    });
  });

  test('the boot mode is passed through as built', async () => {
    const res = await publish({ regions: ['us-west-2'], bootMode: 'legacy-bios', shareWith: [] });
    expect(fake.region('us-west-2').images.get(res.amis['us-west-2']!)!.request.BootMode).toBe('legacy-bios');
    expect(fake.count('ModifyImageAttribute')).toBe(0);
  });

  test('a rerun after a failed copy repeats nothing that was done', async () => {
    fake.failCopyTo = 'us-east-1';
    const err = await publish().catch((e) => e);
    expect(err.code).toBe('AWS_FAILED');
    expect(err.message).toContain('CopyImage to us-east-1 failed: ResourceLimitExceeded');
    const registered = fake.count('RegisterImage');
    const puts = fake.count('PutSnapshotBlock');
    expect(registered).toBe(1);

    const res = await publish();
    expect(fake.count('RegisterImage')).toBe(1);
    expect(fake.count('PutSnapshotBlock')).toBe(puts);
    expect(fake.count('StartSnapshot')).toBe(1);
    // the Sydney copy had started in the first run; the rerun does not start a second one
    expect(fake.region('ap-southeast-2').images.size).toBe(1);
    expect(fake.region('us-east-1').images.size).toBe(1);
    expect(res.upload.blocksSent).toBe(0);
  });

  test('an image registered before a crash (journal not updated) is found by name, not registered twice', async () => {
    await publish({ regions: ['eu-west-1'] });
    // lose the journal's record of the image, as a crash right after RegisterImage would
    const journalPath = journalPathFor(disk);
    const j = JSON.parse(await readFile(journalPath, 'utf8'));
    delete j.imageId;
    await import('node:fs/promises').then((fs) => fs.writeFile(journalPath, JSON.stringify(j)));
    const res = await publish({ regions: ['eu-west-1'] });
    expect(fake.count('RegisterImage')).toBe(1);
    expect(fake.region('eu-west-1').images.has(res.amis['eu-west-1']!)).toBe(true);
  });

  test('an AMI of another disk under the same name is refused, not reused', async () => {
    await publish({ regions: ['eu-west-1'], shareWith: [] });
    const other = join(dir, 'other.raw');
    await makeDisk(other, 16 * BLOCK, [2, 3], 'other');
    const err = await publish({ diskPath: other, regions: ['eu-west-1'], shareWith: [] }).catch((e) => e);
    expect(err.code).toBe('AWS_FAILED');
    expect(err.message).toContain('already exists');
    expect(err.message).toContain('for another disk');
    expect(fake.count('RegisterImage')).toBe(1);
  });

  test.each([
    [{ regions: [] }, 'regions must be distinct AWS region names'],
    [{ regions: ['eu-west-1', 'eu-west-1'] }, 'regions must be distinct'],
    [{ regions: ['Frankfurt'] }, 'regions must be distinct AWS region names'],
    [{ shareWith: ['12345'] }, '12-digit AWS account ids'],
    [{ name: 'x' }, 'the AMI name must be 3–128 characters'],
    [{ name: 'bad|name' }, 'the AMI name must be'],
    [{ ssmParameter: 'has spaces' }, 'the SSM parameter name'],
    [{ bootMode: 'bios' as never }, 'the boot mode must be one of'],
  ])('refuses bad input before any AWS call or file %#', async (bad, message) => {
    const err = await publish(bad).catch((e) => e);
    expect(err.code).toBe('USAGE');
    expect(err.message).toContain(message);
    expect(fake.calls).toEqual([]);
    await expect(stat(journalPathFor(disk))).rejects.toThrow();
    await expect(stat(join(dir, 'amis.json'))).rejects.toThrow();
  });

  test('the journal can live in a state directory', async () => {
    const stateDir = join(dir, 'state');
    await import('node:fs/promises').then((fs) => fs.mkdir(stateDir));
    await publish({ regions: ['eu-west-1'], stateDir });
    expect((await stat(join(stateDir, 'golden.raw.ebs-upload.json'))).isFile()).toBe(true);
  });
});
