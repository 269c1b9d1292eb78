// drydock aws …: publish the AMI, write the CloudFormation template, and create/update/inspect/delete
// the appliance stack. Argument parsing only; the work is in images/ami and cloudformation.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import {
  buildTemplate,
  deleteStack,
  launchStack,
  parseParams,
  quickCreateUrl,
  renderTemplate,
  stackStatus,
  type Template,
} from '../cloudformation/index.ts';
import { DrydockError, type Output } from '../core/index.ts';
import {
  type AwsClients,
  BLOCK_SIZE,
  type BootMode,
  defaultAwsClients,
  publishAmi,
} from '../images/ami/index.ts';
import { action } from './run.ts';

export interface AwsCliDeps {
  clients?: AwsClients;
  cloudformation?: (region: string) => CloudFormationClient;
  env?: NodeJS.ProcessEnv;
  /** waiter and event polling pace (tests make them fast) */
  pace?: { eventPollMs: number; waitDelays: { min: number; max: number } };
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerAws(program: Command, deps: AwsCliDeps = {}): void {
  const env = deps.env ?? process.env;
  // Node 20 is what Drydock supports; the SDK's notice about its future Node 22 floor is noise here
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const clients = (blockConcurrency?: number) => deps.clients ?? defaultAwsClients({ blockConcurrency });
  const cfnFor = (region: string) => deps.cloudformation?.(region) ?? new CloudFormationClient({ region });
  const regionOf = (flag: string | undefined): string => {
    const region = flag ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    if (!region) throw new DrydockError('USAGE', 'no region: pass --region or set AWS_REGION');
    return region;
  };
  const aws = program
    .command('aws')
    .description('Publish the AMI and launch the appliance with CloudFormation');

  aws
    .command('publish-ami')
    .description('Upload a raw disk into an EBS snapshot (resumable), register and copy the AMI, share it')
    .requiredOption('--disk <raw>', 'the raw disk image')
    .requiredOption('--name <name>', 'AMI name')
    .requiredOption('--regions <list>', 'comma-separated regions; the first is where the snapshot is made')
    .option('--share-with <account...>', 'AWS account ids to share the AMI and its snapshots with', [])
    .option('--out <file>', 'write the AMI ids per region to this JSON file')
    .option('--ssm-parameter <name>', 'write the AMI id to this SSM parameter in every region')
    .option(
      '--boot-mode <mode>',
      'uefi-preferred, uefi or legacy-bios (as the image was built)',
      'uefi-preferred',
    )
    .option('--state-dir <dir>', 'where the resume journal lives (default: next to the disk)')
    .option('--concurrency <n>', 'block uploads in flight', '32')
    .option('--json', 'print JSON')
    .action(
      action(async (out: Output, o: Record<string, string | string[] | undefined>) => {
        const started = Date.now();
        let lastProgress = 0;
        const res = await publishAmi({
          clients: clients(Number(o.concurrency)),
          diskPath: o.disk as string,
          name: o.name as string,
          regions: String(o.regions)
            .split(',')
            .map((r) => r.trim())
            .filter(Boolean),
          shareWith: (o.shareWith as string[]).flatMap((a) => a.split(',')).filter(Boolean),
          outPath: o.out as string | undefined,
          ssmParameter: o.ssmParameter as string | undefined,
          bootMode: o.bootMode as BootMode,
          stateDir: o.stateDir as string | undefined,
          concurrency: Number(o.concurrency),
          ...(deps.pace ? { waitDelays: deps.pace.waitDelays } : {}),
          log: (line) => out.info(line),
          onUploadProgress: (p) => {
            // a few updates a second (also for --json, which prints every one as a line)
            const now = Date.now();
            if (now - lastProgress < 250 && p.blocksScanned < p.blocksTotal) return;
            lastProgress = now;
            out.progress('uploading blocks', p.blocksScanned * BLOCK_SIZE, p.blocksTotal * BLOCK_SIZE);
          },
        });
        const u = res.upload;
        out.info(
          `snapshot ${res.snapshotId}: ${u.blocksSent} blocks sent, ${u.blocksAlreadyDone} already there, ${u.zeroBlocks} zero blocks skipped`,
        );
        const list = Object.entries(res.amis)
          .map(([r, id]) => `${r}=${id}`)
          .join(' ');
        out.result(`published ${res.name}: ${list} (${((Date.now() - started) / 1000).toFixed(0)} s)`, {
          ...res,
        });
        return 0;
      }),
    );

  aws
    .command('template')
    .description('Write the CloudFormation template')
    .option('--format <format>', 'json or yaml', 'yaml')
    .option('--out <file>', 'write to this file (default: stdout)')
    .option('--ssm-parameter <name>', 'the SSM parameter the template reads the AMI id from', '/drydock/ami')
    .option(
      '--amis <file>',
      "publish-ami's --out JSON: a per-region AMI mapping, for launching in accounts without the SSM parameter",
    )
    .option('--appliance-name <name>', 'the appliance name in descriptions')
    .option('--signal-timeout <minutes>', 'how long the stack waits for the box to report healthy', '30')
    .option('--json', 'print JSON status')
    .action(
      action(async (out: Output, o: Record<string, string | undefined>) => {
        if (o.format !== 'json' && o.format !== 'yaml')
          throw new DrydockError('USAGE', `--format must be json or yaml, not ${o.format}`);
        const minutes = Number(o.signalTimeout);
        if (!Number.isInteger(minutes) || minutes < 1 || minutes > 720)
          throw new DrydockError('USAGE', '--signal-timeout must be whole minutes from 1 to 720');
        const amis = o.amis ? await readAmis(o.amis) : undefined;
        const text = renderTemplate(
          buildTemplate({
            ...(amis ? { amis } : {}),
            ssmParameter: o.ssmParameter,
            applianceName: o.applianceName,
            signalTimeoutMinutes: minutes,
          }),
          o.format,
        );
        if (!o.out) {
          process.stdout.write(text);
          return 0;
        }
        const tmp = `${o.out}.${process.pid}.tmp`;
        await writeFile(tmp, text);
        await rename(tmp, o.out);
        out.result(`wrote ${o.out} (${o.format}, ${text.length} bytes)`, { path: o.out, bytes: text.length });
        return 0;
      }),
    );

  aws
    .command('quick-create-url')
    .description('Print the CloudFormation console link that launches the template in one click')
    .option('--template-url <url>', 'https URL of the template (default: $DRYDOCK_TEMPLATE_URL)')
    .option('--region <region>', 'region (default: $AWS_REGION)')
    .option('--stack <name>', 'suggested stack name', 'drydock')
    .option('--param <k=v>', 'prefill a parameter (repeatable)', collect, [])
    .option('--json', 'print JSON')
    .action(
      action(
        async (out: Output, o: { templateUrl?: string; region?: string; stack: string; param: string[] }) => {
          const templateUrl = o.templateUrl ?? env.DRYDOCK_TEMPLATE_URL;
          if (!templateUrl)
            throw new DrydockError(
              'USAGE',
              'no template URL: upload the template (drydock aws template) to S3 and pass --template-url',
            );
          const url = quickCreateUrl({
            templateUrl,
            region: regionOf(o.region),
            stackName: o.stack,
            params: parseParams(o.param, buildTemplate() as { Parameters: Record<string, unknown> }),
          });
          out.result(url, { url });
          return 0;
        },
      ),
    );

  aws
    .command('launch')
    .description('Create the stack, or update it if it exists; streams its events and waits')
    .requiredOption('--stack <name>', 'stack name')
    .option('--region <region>', 'region (default: $AWS_REGION)')
    .option('--param <k=v>', 'a template parameter (repeatable)', collect, [])
    .option('--template <file>', 'a template file (JSON or YAML) instead of the built-in one')
    .option('--tag <k=v>', 'a stack tag (repeatable)', collect, [])
    .option('--json', 'print JSON')
    .action(
      action(
        async (
          out: Output,
          o: { stack: string; region?: string; param: string[]; template?: string; tag: string[] },
        ) => {
          const region = regionOf(o.region);
          const { body, template } = await loadTemplate(o.template);
          const params = parseParams(o.param, template);
          const tags: Record<string, string> = {};
          for (const t of o.tag) {
            const eq = t.indexOf('=');
            if (eq <= 0) throw new DrydockError('USAGE', `tag "${t}" is not of the form Key=value`);
            tags[t.slice(0, eq)] = t.slice(eq + 1);
          }
          const res = await launchStack(
            { cfn: cfnFor(region), log: (l) => out.info(l), ...pace(deps) },
            { stackName: o.stack, templateBody: body, template, params, tags },
          );
          const outputs = Object.entries(res.outputs)
            .map(([k, v]) => `\n  ${k}: ${v}`)
            .join('');
          out.result(`stack ${res.stackName} ${res.action} (${res.status})${outputs}`, { ...res });
          return 0;
        },
      ),
    );

  aws
    .command('status')
    .description("Show the stack's status and outputs")
    .requiredOption('--stack <name>', 'stack name')
    .option('--region <region>', 'region (default: $AWS_REGION)')
    .option('--json', 'print JSON')
    .action(
      action(async (out: Output, o: { stack: string; region?: string }) => {
        const s = await stackStatus(cfnFor(regionOf(o.region)), o.stack);
        const outputs = Object.entries(s.outputs)
          .map(([k, v]) => `\n  ${k}: ${v}`)
          .join('');
        out.result(`${s.stackName}: ${s.status}${s.reason ? ` (${s.reason})` : ''}${outputs}`, { ...s });
        return 0;
      }),
    );

  aws
    .command('delete')
    .description('Delete the stack and wait until it is gone')
    .requiredOption('--stack <name>', 'stack name')
    .option('--region <region>', 'region (default: $AWS_REGION)')
    .option('--json', 'print JSON')
    .action(
      action(async (out: Output, o: { stack: string; region?: string }) => {
        const res = await deleteStack(
          { cfn: cfnFor(regionOf(o.region)), log: (l) => out.info(l), ...pace(deps) },
          { stackName: o.stack },
        );
        out.result(`stack ${res.stackName} deleted`, { ...res });
        return 0;
      }),
    );
}

function pace(deps: AwsCliDeps) {
  return deps.pace ? { eventPollMs: deps.pace.eventPollMs, waitDelays: deps.pace.waitDelays } : {};
}

/** The region → AMI id map of `publish-ami --out`, checked before it goes into a template. */
async function readAmis(file: string): Promise<Record<string, string>> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new DrydockError('SPEC_FILE_MISSING', `--amis ${file} cannot be read`);
  });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new DrydockError('SPEC_INVALID', `--amis ${file} is not JSON`);
  }
  const amis = (doc as { amis?: unknown })?.amis;
  if (!amis || typeof amis !== 'object' || Object.keys(amis).length === 0)
    throw new DrydockError('SPEC_INVALID', `--amis ${file} has no "amis" (write it with publish-ami --out)`);
  for (const [region, id] of Object.entries(amis))
    if (
      !/^[a-z]{2}(-[a-z]+)+-\d$/.test(region) ||
      typeof id !== 'string' ||
      !/^ami-([0-9a-f]{8}|[0-9a-f]{17})$/.test(id)
    )
      throw new DrydockError(
        'SPEC_INVALID',
        `--amis ${file}: ${region} → ${String(id)} is not a region and an AMI id`,
      );
  return amis as Record<string, string>;
}

async function loadTemplate(file: string | undefined): Promise<{ body: string; template: Template }> {
  if (!file) {
    const template = buildTemplate();
    return { body: JSON.stringify(template), template };
  }
  let body: string;
  try {
    body = await readFile(file, 'utf8');
  } catch {
    throw new DrydockError('SPEC_FILE_MISSING', `template ${file} cannot be read`);
  }
  let template: unknown;
  try {
    // JSON is YAML too; short-form tags (!Ref …) are left unresolved, only Parameters matter here
    template = parseYaml(body, { logLevel: 'error' });
  } catch (err) {
    throw new DrydockError(
      'SPEC_INVALID',
      `template ${file} is neither JSON nor YAML: ${(err as Error).message}`,
    );
  }
  if (!template || typeof template !== 'object' || !('Resources' in template))
    throw new DrydockError('SPEC_INVALID', `template ${file} has no Resources`);
  return { body, template: template as Template };
}
