// The whole AMI publication: raw disk → snapshot (resumable) → image in the first region → copies in
// the others → tags and shares → AMI ids written to a JSON file and to SSM parameters, which the
// CloudFormation template reads. Each step records its result in the journal so a rerun skips it.
import { createHash } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  CopyImageCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  type EC2Client,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  RegisterImageCommand,
  waitUntilImageAvailable,
} from '@aws-sdk/client-ec2';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { DrydockError } from '../../core/index.ts';
import { awsError } from './aws-error.ts';
import type { AwsClients } from './clients.ts';
import { loadJournal, saveJournal } from './journal.ts';
import { type BootMode, checkPublishInput } from './options.ts';
import { type UploadProgress, type UploadResult, uploadSnapshot } from './upload.ts';

export interface PublishOptions {
  clients: AwsClients;
  diskPath: string;
  name: string;
  regions: string[];
  shareWith?: string[];
  outPath?: string;
  ssmParameter?: string;
  bootMode?: BootMode;
  /** where the resume journal lives; default: next to the disk */
  stateDir?: string;
  description?: string;
  tags?: Record<string, string>;
  concurrency?: number;
  onUploadProgress?: (p: UploadProgress) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
  waitDelays?: { min: number; max: number };
  maxWaitSeconds?: number;
}

export interface PublishResult {
  name: string;
  bootMode: BootMode;
  snapshotId: string;
  /** region → AMI id, the first region first */
  amis: Record<string, string>;
  ssmParameter?: string;
  sharedWith: string[];
  upload: UploadResult;
}

export function journalPathFor(diskPath: string, stateDir?: string): string {
  return stateDir
    ? join(stateDir, `${basename(diskPath)}.ebs-upload.json`)
    : join(dirname(diskPath), `${basename(diskPath)}.ebs-upload.json`);
}

export async function publishAmi(opts: PublishOptions): Promise<PublishResult> {
  const input = checkPublishInput({
    diskPath: opts.diskPath,
    name: opts.name,
    regions: opts.regions,
    shareWith: opts.shareWith ?? [],
    ...(opts.ssmParameter === undefined ? {} : { ssmParameter: opts.ssmParameter }),
    bootMode: opts.bootMode ?? 'uefi-preferred',
  });
  const log = opts.log ?? (() => {});
  const [home, ...others] = input.regions as [string, ...string[]];
  const journalPath = journalPathFor(input.diskPath, opts.stateDir);
  const tags = { Name: input.name, 'drydock:image': input.name, ...(opts.tags ?? {}) };
  const tagList = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  const delays = opts.waitDelays ?? { min: 15, max: 60 };
  const waitFor = (ec2: EC2Client, imageIds: string[]) =>
    waitUntilImageAvailable(
      {
        client: ec2,
        maxWaitTime: opts.maxWaitSeconds ?? 7200,
        minDelay: delays.min,
        maxDelay: delays.max,
        abortSignal: opts.signal,
      },
      { ImageIds: imageIds },
    ).catch((err) => {
      throw awsError(`waiting for ${imageIds.join(', ')} to become available`, err);
    });

  const upload = await uploadSnapshot({
    ebs: opts.clients.ebs(home),
    ec2: opts.clients.ec2(home),
    diskPath: input.diskPath,
    journalPath,
    name: input.name,
    region: home,
    concurrency: opts.concurrency,
    description: opts.description ?? `drydock ${input.name}`,
    tags,
    onProgress: opts.onUploadProgress,
    log,
    signal: opts.signal,
    waitDelays: opts.waitDelays,
    maxWaitSeconds: opts.maxWaitSeconds,
  });
  const journal = (await loadJournal(journalPath))!;

  // register (or find the image an interrupted run registered under the same name)
  const homeEc2 = opts.clients.ec2(home);
  if (!journal.imageId) {
    const existing = await findImageByName(homeEc2, input.name, upload.snapshotId);
    if (existing) {
      journal.imageId = existing;
      log(`${home}: ${input.name} is already registered as ${existing}`);
    } else {
      const res = await homeEc2
        .send(
          new RegisterImageCommand({
            Name: input.name,
            Description: opts.description ?? `drydock ${input.name}`,
            Architecture: 'x86_64',
            VirtualizationType: 'hvm',
            RootDeviceName: '/dev/xvda',
            BlockDeviceMappings: [
              {
                DeviceName: '/dev/xvda',
                Ebs: { SnapshotId: upload.snapshotId, VolumeType: 'gp3', DeleteOnTermination: true },
              },
            ],
            EnaSupport: true,
            SriovNetSupport: 'simple',
            BootMode: input.bootMode,
            ImdsSupport: 'v2.0',
            TagSpecifications: [{ ResourceType: 'image', Tags: tagList }],
          }),
        )
        .catch((err) => {
          throw awsError('RegisterImage', err);
        });
      if (!res.ImageId) throw awsError('RegisterImage', new Error('no image id returned'));
      journal.imageId = res.ImageId;
      log(`${home}: registered ${res.ImageId}`);
    }
    await saveJournal(journalPath, journal);
  }
  const homeImage = journal.imageId;
  await waitFor(homeEc2, [homeImage]);

  // copies: the client token makes a repeated CopyImage return the same image
  await Promise.all(
    others.map(async (region) => {
      const ec2 = opts.clients.ec2(region);
      if (!journal.copies[region]) {
        const res = await ec2
          .send(
            new CopyImageCommand({
              Name: input.name,
              Description: opts.description ?? `drydock ${input.name}`,
              SourceImageId: homeImage,
              SourceRegion: home,
              ClientToken: createHash('sha256').update(`${homeImage}/${region}`).digest('hex').slice(0, 64),
              CopyImageTags: true,
            }),
          )
          .catch((err) => {
            throw awsError(`CopyImage to ${region}`, err);
          });
        if (!res.ImageId) throw awsError(`CopyImage to ${region}`, new Error('no image id returned'));
        journal.copies[region] = res.ImageId;
        await saveJournal(journalPath, journal);
        log(`${region}: copying to ${res.ImageId}`);
      }
      await waitFor(ec2, [journal.copies[region]!]);
    }),
  );
  const amis: Record<string, string> = { [home]: homeImage, ...journal.copies };

  // tag, share, publish the ids
  for (const [region, imageId] of Object.entries(amis)) {
    const ec2 = opts.clients.ec2(region);
    const snapshots = await imageSnapshots(ec2, imageId);
    await ec2
      .send(new CreateTagsCommand({ Resources: [imageId, ...snapshots], Tags: tagList }))
      .catch((err) => {
        throw awsError(`CreateTags in ${region}`, err);
      });
    if (input.shareWith.length > 0) {
      await ec2
        .send(
          new ModifyImageAttributeCommand({
            ImageId: imageId,
            LaunchPermission: { Add: input.shareWith.map((UserId) => ({ UserId })) },
          }),
        )
        .catch((err) => {
          throw awsError(`sharing ${imageId}`, err);
        });
      for (const snapshotId of snapshots) {
        // launching from a shared AMI needs the snapshot's createVolumePermission as well
        await ec2
          .send(
            new ModifySnapshotAttributeCommand({
              SnapshotId: snapshotId,
              Attribute: 'createVolumePermission',
              OperationType: 'add',
              UserIds: input.shareWith,
            }),
          )
          .catch((err) => {
            throw awsError(`sharing ${snapshotId}`, err);
          });
      }
    }
    if (input.ssmParameter) {
      await opts.clients
        .ssm(region)
        .send(
          new PutParameterCommand({
            Name: input.ssmParameter,
            Value: imageId,
            Type: 'String',
            DataType: 'aws:ec2:image',
            Overwrite: true,
            Description: `drydock AMI ${input.name}`,
          }),
        )
        .catch((err) => {
          throw awsError(`PutParameter ${input.ssmParameter} in ${region}`, err);
        });
    }
  }

  const result: PublishResult = {
    name: input.name,
    bootMode: input.bootMode,
    snapshotId: upload.snapshotId,
    amis,
    ...(input.ssmParameter ? { ssmParameter: input.ssmParameter } : {}),
    sharedWith: input.shareWith,
    upload,
  };
  if (opts.outPath) {
    const { upload: _u, ...doc } = result;
    const tmp = `${opts.outPath}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(doc, null, 2)}\n`);
    await rename(tmp, opts.outPath);
  }
  return result;
}

/** Our image of this snapshot under this name; a same-named image of another disk is refused. */
async function findImageByName(
  ec2: EC2Client,
  name: string,
  snapshotId: string,
): Promise<string | undefined> {
  const res = await ec2
    .send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [name] }] }))
    .catch((err) => {
      throw awsError('DescribeImages', err);
    });
  const image = res.Images?.find((i) => i.State !== 'deregistered');
  if (!image) return undefined;
  if (!image.BlockDeviceMappings?.some((m) => m.Ebs?.SnapshotId === snapshotId))
    throw new DrydockError(
      'AWS_FAILED',
      `an AMI named "${name}" already exists (${image.ImageId}) for another disk; choose another --name or deregister it`,
    );
  return image.ImageId;
}

async function imageSnapshots(ec2: EC2Client, imageId: string): Promise<string[]> {
  const res = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })).catch((err) => {
    throw awsError('DescribeImages', err);
  });
  const image = res.Images?.[0];
  return (image?.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : []));
}
