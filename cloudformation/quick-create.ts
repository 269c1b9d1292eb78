// The CloudFormation console's quick-create link: one click opens the stack form with the template
// and (optionally) parameter values filled in. The template must be on S3 (or any https URL).
import { DrydockError } from '../core/index.ts';

export const STACK_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$/;

export function quickCreateUrl(opts: {
  templateUrl: string;
  region: string;
  stackName?: string;
  params?: Record<string, string>;
}): string {
  let url: URL;
  try {
    url = new URL(opts.templateUrl);
  } catch {
    throw new DrydockError('USAGE', `template URL ${opts.templateUrl} is not a URL`);
  }
  if (url.protocol !== 'https:') throw new DrydockError('USAGE', 'the template URL must be https://');
  if (!REGION.test(opts.region)) throw new DrydockError('USAGE', `${opts.region} is not an AWS region name`);
  if (opts.stackName !== undefined && !STACK_NAME_PATTERN.test(opts.stackName))
    throw new DrydockError('USAGE', 'a stack name starts with a letter and has only letters, digits and -');
  const q = new URLSearchParams({ templateURL: url.toString() });
  if (opts.stackName) q.set('stackName', opts.stackName);
  for (const [k, v] of Object.entries(opts.params ?? {})) q.set(`param_${k}`, v);
  const host = opts.region.startsWith('cn-') ? 'console.amazonaws.cn' : 'console.aws.amazon.com';
  return `https://${opts.region}.${host}/cloudformation/home?region=${opts.region}#/stacks/quickcreate?${q}`;
}
