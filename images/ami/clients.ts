// The AWS clients the AMI publisher uses, one per region, made by an injected factory so tests hand
// in mocked clients and the CLI hands in real ones (credentials from the default provider chain).
import { Agent } from 'node:https';
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';

export interface AwsClients {
  ebs(region: string): EBSClient;
  ec2(region: string): EC2Client;
  ssm(region: string): SSMClient;
}

/** `blockConcurrency`: the EBS client gets that many sockets, so the pool is not capped by the agent. */
export function defaultAwsClients(opts: { blockConcurrency?: number } = {}): AwsClients {
  const cache = new Map<string, unknown>();
  const get = <T>(key: string, make: () => T): T => {
    if (!cache.has(key)) cache.set(key, make());
    return cache.get(key) as T;
  };
  return {
    ebs: (region) =>
      get(
        `ebs:${region}`,
        () =>
          new EBSClient({
            region,
            maxAttempts: 5,
            requestHandler: {
              httpsAgent: new Agent({
                keepAlive: true,
                maxSockets: Math.max(50, opts.blockConcurrency ?? 0),
              }),
            },
          }),
      ),
    ec2: (region) => get(`ec2:${region}`, () => new EC2Client({ region, maxAttempts: 5 })),
    ssm: (region) => get(`ssm:${region}`, () => new SSMClient({ region })),
  };
}
