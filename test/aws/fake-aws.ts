// A stateful stand-in for EBS, EC2 and SSM, built on aws-sdk-client-mock around real SDK clients:
// it behaves like the services where our code depends on them. Snapshots store their blocks and
// refuse a block whose checksum is wrong, a CompleteSnapshot whose count or linear checksum is
// wrong; images go pending → available; copies need an available source; sharing and tags are
// recorded; SSM parameters of type aws:ec2:image must name an image of that region.
import { createHash } from 'node:crypto';
import {
  CompleteSnapshotCommand,
  EBSClient,
  InternalServerException,
  PutSnapshotBlockCommand,
  ResourceNotFoundException,
  StartSnapshotCommand,
  ValidationException,
} from '@aws-sdk/client-ebs';
import {
  CopyImageCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  EC2ServiceException,
  type Image,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { PutParameterCommand, SSMClient, SSMServiceException } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import type { AwsClients } from '../../images/ami/index.ts';

// Drydock runs on Node 20; the SDK's notice about its future Node 22 floor is noise in test output
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const BLOCK = 524288;
const meta = { $metadata: {} };

export interface FakeSnapshot {
  id: string;
  state: 'pending' | 'completing' | 'completed' | 'error';
  volumeSize: number;
  blocks: Map<number, Buffer>;
  clientToken?: string;
  createVolumePermission: Set<string>;
  tags: Record<string, string>;
}

export interface FakeImage {
  id: string;
  name: string;
  state: 'pending' | 'available';
  polls: number;
  snapshotIds: string[];
  request: Record<string, unknown>;
  launchPermission: Set<string>;
  tags: Record<string, string>;
  clientToken?: string;
}

export interface FakeRegion {
  snapshots: Map<string, FakeSnapshot>;
  images: Map<string, FakeImage>;
  params: Map<string, { value: string; dataType?: string }>;
}

export class FakeAws {
  readonly regions = new Map<string, FakeRegion>();
  /** every PutSnapshotBlock that EBS accepted, in order */
  readonly acceptedPuts: { snapshotId: string; index: number }[] = [];
  readonly calls: { region: string; command: string }[] = [];
  /** inject a failure: every PutSnapshotBlock after this many accepted ones fails */
  failPutsAfter: number | undefined;
  /** inject a failure: CopyImage to this region fails (once) */
  failCopyTo: string | undefined;
  /** polls an image stays pending */
  pendingPolls = 1;
  inFlight = 0;
  maxInFlight = 0;
  private seq = 0;
  private readonly ebsClients = new Map<string, EBSClient>();
  private readonly ec2Clients = new Map<string, EC2Client>();
  private readonly ssmClients = new Map<string, SSMClient>();

  readonly clients: AwsClients = {
    ebs: (region) => this.client(this.ebsClients, region, () => this.makeEbs(region)),
    ec2: (region) => this.client(this.ec2Clients, region, () => this.makeEc2(region)),
    ssm: (region) => this.client(this.ssmClients, region, () => this.makeSsm(region)),
  };

  region(name: string): FakeRegion {
    let r = this.regions.get(name);
    if (!r) {
      r = { snapshots: new Map(), images: new Map(), params: new Map() };
      this.regions.set(name, r);
    }
    return r;
  }

  count(command: string): number {
    return this.calls.filter((c) => c.command === command).length;
  }

  private id(prefix: string): string {
    this.seq++;
    return `${prefix}-${this.seq.toString(16).padStart(17, '0')}`;
  }

  private client<T>(cache: Map<string, T>, region: string, make: () => T): T {
    if (!cache.has(region)) cache.set(region, make());
    return cache.get(region)!;
  }

  private record(region: string, command: string) {
    this.calls.push({ region, command });
  }

  private makeEbs(region: string): EBSClient {
    const client = new EBSClient({ region, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const m = mockClient(client);
    const r = this.region(region);
    m.on(StartSnapshotCommand).callsFake(async (input) => {
      this.record(region, 'StartSnapshot');
      if (!Number.isInteger(input.VolumeSize) || input.VolumeSize < 1)
        throw new ValidationException({ ...meta, message: 'VolumeSize must be a positive integer' });
      const same = [...r.snapshots.values()].find(
        (s) => input.ClientToken && s.clientToken === input.ClientToken,
      );
      const snap: FakeSnapshot = same ?? {
        id: this.id('snap'),
        state: 'pending',
        volumeSize: input.VolumeSize,
        blocks: new Map(),
        clientToken: input.ClientToken,
        createVolumePermission: new Set(),
        tags: Object.fromEntries(
          (input.Tags ?? []).map((t: { Key: string; Value: string }) => [t.Key, t.Value]),
        ),
      };
      r.snapshots.set(snap.id, snap);
      return { SnapshotId: snap.id, Status: 'pending', BlockSize: BLOCK, VolumeSize: snap.volumeSize };
    });
    m.on(PutSnapshotBlockCommand).callsFake(async (input) => {
      this.record(region, 'PutSnapshotBlock');
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      try {
        // let other requests in, as a network would
        await new Promise((res) => setTimeout(res, 1));
        const snap = r.snapshots.get(input.SnapshotId);
        if (!snap)
          throw new ResourceNotFoundException({ ...meta, message: `snapshot ${input.SnapshotId} not found` });
        if (snap.state !== 'pending')
          throw new ValidationException({ ...meta, message: `snapshot ${snap.id} is ${snap.state}` });
        if (this.failPutsAfter !== undefined && this.acceptedPuts.length >= this.failPutsAfter)
          throw new InternalServerException({ ...meta, message: 'injected failure' });
        const data = Buffer.from(input.BlockData as Uint8Array);
        if (input.DataLength !== BLOCK || data.length !== BLOCK)
          throw new ValidationException({ ...meta, message: 'DataLength must be 524288' });
        if (input.ChecksumAlgorithm !== 'SHA256')
          throw new ValidationException({ ...meta, message: 'ChecksumAlgorithm must be SHA256' });
        const checksum = createHash('sha256').update(data).digest('base64');
        if (input.Checksum !== checksum)
          throw new ValidationException({
            ...meta,
            message: 'The checksum of the block data does not match',
          });
        if (input.BlockIndex < 0 || input.BlockIndex >= (snap.volumeSize * 1024 ** 3) / BLOCK)
          throw new ValidationException({ ...meta, message: `block index ${input.BlockIndex} out of range` });
        snap.blocks.set(input.BlockIndex, data);
        this.acceptedPuts.push({ snapshotId: snap.id, index: input.BlockIndex });
        return { Checksum: checksum, ChecksumAlgorithm: 'SHA256' };
      } finally {
        this.inFlight--;
      }
    });
    m.on(CompleteSnapshotCommand).callsFake(async (input) => {
      this.record(region, 'CompleteSnapshot');
      const snap = r.snapshots.get(input.SnapshotId);
      if (!snap)
        throw new ResourceNotFoundException({ ...meta, message: `snapshot ${input.SnapshotId} not found` });
      if (snap.state !== 'pending')
        throw new ValidationException({ ...meta, message: `snapshot ${snap.id} is ${snap.state}` });
      if (input.ChangedBlocksCount !== snap.blocks.size)
        throw new ValidationException({
          ...meta,
          message: `ChangedBlocksCount ${input.ChangedBlocksCount} does not match the ${snap.blocks.size} blocks written`,
        });
      if (input.Checksum !== undefined) {
        if (input.ChecksumAggregationMethod !== 'LINEAR' || input.ChecksumAlgorithm !== 'SHA256')
          throw new ValidationException({
            ...meta,
            message: 'only SHA256 with LINEAR aggregation is supported',
          });
        const h = createHash('sha256');
        for (const i of [...snap.blocks.keys()].sort((a, b) => a - b))
          h.update(createHash('sha256').update(snap.blocks.get(i)!).digest());
        if (h.digest('base64') !== input.Checksum)
          throw new ValidationException({ ...meta, message: 'the aggregated checksum does not match' });
      }
      snap.state = 'completing';
      return { Status: 'pending' };
    });
    return client;
  }

  private makeEc2(region: string): EC2Client {
    const client = new EC2Client({ region, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const m = mockClient(client);
    const r = this.region(region);
    const ec2Error = (name: string, message: string) =>
      new EC2ServiceException({ name, $fault: 'client', ...meta, message });
    m.on(DescribeSnapshotsCommand).callsFake(async (input) => {
      this.record(region, 'DescribeSnapshots');
      const snaps = (input.SnapshotIds ?? []).map((id: string) => {
        const s = r.snapshots.get(id);
        if (!s) throw ec2Error('InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`);
        // the snapshot turns completed a moment after CompleteSnapshot
        const state = s.state === 'completing' ? 'pending' : s.state;
        if (s.state === 'completing') s.state = 'completed';
        return { SnapshotId: s.id, State: state, VolumeSize: s.volumeSize };
      });
      return { Snapshots: snaps };
    });
    m.on(RegisterImageCommand).callsFake(async (input) => {
      this.record(region, 'RegisterImage');
      if ([...r.images.values()].some((i) => i.name === input.Name))
        throw ec2Error('InvalidAMIName.Duplicate', `AMI name ${input.Name} is already in use`);
      const root = input.BlockDeviceMappings?.find(
        (b: { DeviceName: string }) => b.DeviceName === input.RootDeviceName,
      );
      if (!root) throw ec2Error('InvalidBlockDeviceMapping', 'no mapping for the root device');
      const snap = r.snapshots.get(root.Ebs?.SnapshotId);
      if (snap?.state !== 'completed')
        throw ec2Error(
          'InvalidSnapshot.NotFound',
          `snapshot ${root.Ebs?.SnapshotId} is not a completed snapshot`,
        );
      const image: FakeImage = {
        id: this.id('ami'),
        name: input.Name,
        state: 'pending',
        polls: 0,
        snapshotIds: [snap.id],
        request: input,
        launchPermission: new Set(),
        tags: Object.fromEntries(
          (input.TagSpecifications?.[0]?.Tags ?? []).map((t: { Key: string; Value: string }) => [
            t.Key,
            t.Value,
          ]),
        ),
      };
      r.images.set(image.id, image);
      return { ImageId: image.id };
    });
    m.on(DescribeImagesCommand).callsFake(async (input) => {
      this.record(region, 'DescribeImages');
      let images = [...r.images.values()];
      if (input.ImageIds) {
        for (const id of input.ImageIds)
          if (!r.images.has(id))
            throw ec2Error('InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`);
        images = images.filter((i) => input.ImageIds.includes(i.id));
      }
      for (const f of input.Filters ?? [])
        if (f.Name === 'name') images = images.filter((i) => f.Values.includes(i.name));
      return {
        Images: images.map((i): Image => {
          const state = i.state;
          if (i.state === 'pending' && ++i.polls >= this.pendingPolls) i.state = 'available';
          return {
            ImageId: i.id,
            Name: i.name,
            State: state,
            BlockDeviceMappings: i.snapshotIds.map((s) => ({
              DeviceName: '/dev/xvda',
              Ebs: { SnapshotId: s },
            })),
          };
        }),
      };
    });
    m.on(CopyImageCommand).callsFake(async (input) => {
      this.record(region, 'CopyImage');
      if (this.failCopyTo === region) {
        this.failCopyTo = undefined;
        throw ec2Error('ResourceLimitExceeded', 'injected failure');
      }
      const existing = [...r.images.values()].find(
        (i) => input.ClientToken && i.clientToken === input.ClientToken,
      );
      if (existing) return { ImageId: existing.id };
      const src = this.regions.get(input.SourceRegion)?.images.get(input.SourceImageId);
      if (src?.state !== 'available')
        throw ec2Error(
          'InvalidAMIID.Unavailable',
          `${input.SourceImageId} is not available in ${input.SourceRegion}`,
        );
      const snapshotIds = src.snapshotIds.map((sid) => {
        const from = this.regions.get(input.SourceRegion)!.snapshots.get(sid)!;
        const copy: FakeSnapshot = {
          ...from,
          id: this.id('snap'),
          state: 'completed',
          createVolumePermission: new Set(),
          tags: {},
        };
        r.snapshots.set(copy.id, copy);
        return copy.id;
      });
      const image: FakeImage = {
        ...src,
        id: this.id('ami'),
        name: input.Name,
        state: 'pending',
        polls: 0,
        snapshotIds,
        launchPermission: new Set(),
        tags: input.CopyImageTags ? { ...src.tags } : {},
        clientToken: input.ClientToken,
      };
      r.images.set(image.id, image);
      return { ImageId: image.id };
    });
    m.on(CreateTagsCommand).callsFake(async (input) => {
      this.record(region, 'CreateTags');
      for (const id of input.Resources) {
        const target = r.images.get(id) ?? r.snapshots.get(id);
        if (!target) throw ec2Error('InvalidID', `The ID '${id}' is not valid`);
        for (const t of input.Tags) target.tags[t.Key] = t.Value;
      }
      return {};
    });
    m.on(ModifyImageAttributeCommand).callsFake(async (input) => {
      this.record(region, 'ModifyImageAttribute');
      const image = r.images.get(input.ImageId);
      if (!image) throw ec2Error('InvalidAMIID.NotFound', `${input.ImageId} does not exist`);
      for (const p of input.LaunchPermission?.Add ?? []) image.launchPermission.add(p.UserId);
      return {};
    });
    m.on(ModifySnapshotAttributeCommand).callsFake(async (input) => {
      this.record(region, 'ModifySnapshotAttribute');
      const snap = r.snapshots.get(input.SnapshotId);
      if (!snap) throw ec2Error('InvalidSnapshot.NotFound', `${input.SnapshotId} does not exist`);
      if (input.Attribute !== 'createVolumePermission' || input.OperationType !== 'add')
        throw ec2Error('InvalidParameterValue', 'unexpected attribute');
      for (const u of input.UserIds ?? []) snap.createVolumePermission.add(u);
      return {};
    });
    return client;
  }

  private makeSsm(region: string): SSMClient {
    const client = new SSMClient({ region, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const m = mockClient(client);
    const r = this.region(region);
    m.on(PutParameterCommand).callsFake(async (input) => {
      this.record(region, 'PutParameter');
      if (r.params.has(input.Name) && !input.Overwrite)
        throw new SSMServiceException({
          name: 'ParameterAlreadyExists',
          $fault: 'client',
          ...meta,
          message: 'exists',
        });
      if (input.DataType === 'aws:ec2:image' && !r.images.has(input.Value))
        throw new SSMServiceException({
          name: 'InvalidParameterValue',
          $fault: 'client',
          ...meta,
          message: `${input.Value} is not an image in ${region}`,
        });
      r.params.set(input.Name, { value: input.Value, dataType: input.DataType });
      return { Version: 1 };
    });
    return client;
  }
}
