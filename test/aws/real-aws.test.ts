// Opt-in: the whole AWS path for real, with the caller's credentials (DRYDOCK_E2E_AWS=1).
//   AWS_REGION                     where to publish and launch (required)
//   DRYDOCK_E2E_AWS_VPC / _SUBNET  where to launch the stack (the launch steps are skipped without them)
//   DRYDOCK_E2E_AWS_DISK           a golden raw disk from `drydock build`; without it a small
//                                  synthetic disk is published, which cannot boot: the launch is
//                                  then expected to roll back (exit 3) when no signal comes
//   DRYDOCK_E2E_AWS_COPY_REGION    optional second region for CopyImage
//   DRYDOCK_E2E_AWS_HTTPS_CIDR     who may reach the admin page (default 127.0.0.1/32)
// Everything it creates (stack, AMIs, snapshots, SSM parameters) is deleted at the end.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, ValidateTemplateCommand } from '@aws-sdk/client-cloudformation';
import { DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { DeleteParameterCommand } from '@aws-sdk/client-ssm';
import { afterAll, describe, expect, test } from 'vitest';
import { buildTemplate, deleteStack, launchStack, stackStatus } from '../../cloudformation/index.ts';
import { defaultAwsClients, type PublishResult, publishAmi } from '../../images/ami/index.ts';
import { BLOCK, makeDisk } from './disk.ts';

const env = process.env;
const enabled = env.DRYDOCK_E2E_AWS === '1';
if (!enabled)
  console.info('real AWS suite skipped: set DRYDOCK_E2E_AWS=1 (and AWS_REGION, credentials) to run it');

describe.skipIf(!enabled)('real AWS (DRYDOCK_E2E_AWS=1)', () => {
  // a placeholder keeps client construction happy while the suite is only being collected
  const region = env.AWS_REGION ?? 'us-east-1';
  const run = `drydock-e2e-${Date.now()}`;
  const ssmParameter = `/drydock/e2e/${run}/ami`;
  const clients = defaultAwsClients();
  const cfn = new CloudFormationClient({ region });
  const regions = [region, ...(env.DRYDOCK_E2E_AWS_COPY_REGION ? [env.DRYDOCK_E2E_AWS_COPY_REGION] : [])];
  const synthetic = !env.DRYDOCK_E2E_AWS_DISK;
  let published: PublishResult | undefined;
  let launched = false;
  let dir = '';

  afterAll(async () => {
    if (launched) await deleteStack({ cfn, log: console.info }, { stackName: run }).catch(console.error);
    for (const [r, imageId] of Object.entries(published?.amis ?? {})) {
      const ec2 = clients.ec2(r);
      const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
      await ec2.send(new DeregisterImageCommand({ ImageId: imageId })).catch(console.error);
      for (const m of image?.BlockDeviceMappings ?? [])
        if (m.Ebs?.SnapshotId)
          await ec2.send(new DeleteSnapshotCommand({ SnapshotId: m.Ebs.SnapshotId })).catch(console.error);
      await clients
        .ssm(r)
        .send(new DeleteParameterCommand({ Name: ssmParameter }))
        .catch(console.error);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 900_000);

  test('CloudFormation accepts the template', async () => {
    expect(env.AWS_REGION, 'set AWS_REGION').toBeTruthy();
    const res = await cfn.send(
      new ValidateTemplateCommand({ TemplateBody: JSON.stringify(buildTemplate()) }),
    );
    expect(res.Capabilities).toContain('CAPABILITY_IAM');
    expect(res.Parameters?.map((p) => p.ParameterKey)).toContain('AmiId');
  });

  test('publish-ami uploads, registers, copies and writes the SSM parameter', async () => {
    dir = await mkdtemp(join(tmpdir(), 'drydock-e2e-aws-'));
    const diskPath = env.DRYDOCK_E2E_AWS_DISK ?? join(dir, 'synthetic.raw');
    if (synthetic) await makeDisk(diskPath, 2048 * BLOCK, [0, 1, 2, 100, 1000, 2047]);
    published = await publishAmi({
      clients,
      diskPath,
      name: run,
      regions,
      ssmParameter,
      stateDir: dir,
      log: console.info,
    });
    expect(Object.keys(published.amis)).toEqual(regions);
    if (synthetic) expect(published.upload.blocksSent).toBe(6);
  }, 3_600_000);

  test.skipIf(!env.DRYDOCK_E2E_AWS_VPC || !env.DRYDOCK_E2E_AWS_SUBNET)(
    'launch: a real disk completes, the synthetic one rolls back with exit 3',
    async () => {
      expect(published).toBeDefined();
      const template = buildTemplate({ ssmParameter, signalTimeoutMinutes: synthetic ? 5 : 30 });
      launched = true;
      const attempt = launchStack(
        { cfn, log: console.info },
        {
          stackName: run,
          templateBody: JSON.stringify(template),
          template,
          params: {
            VpcId: env.DRYDOCK_E2E_AWS_VPC!,
            SubnetId: env.DRYDOCK_E2E_AWS_SUBNET!,
            HttpsCidr: env.DRYDOCK_E2E_AWS_HTTPS_CIDR ?? '127.0.0.1/32',
            DeleteDataOnTermination: 'true',
          },
        },
      );
      if (synthetic) {
        const err = await attempt.catch((e) => e);
        expect(err.code).toBe('STACK_ROLLED_BACK');
        expect(err.exitCode).toBe(3);
      } else {
        const res = await attempt;
        expect(res.status).toBe('CREATE_COMPLETE');
        expect(res.outputs.AdminUrl).toMatch(/^https:\/\//);
        expect((await stackStatus(cfn, run)).status).toBe('CREATE_COMPLETE');
      }
    },
    3_600_000,
  );
});
