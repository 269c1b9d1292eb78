// Offline validation of a CloudFormation template against AWS's own resource schemas, as packaged
// in @aws-cdk/aws-service-spec: every resource type exists, every property exists on its type (and
// nested property types too), literal values have the right primitive type and are among the
// allowed values where the spec lists them, required properties are set; plus the template's own
// wiring: Refs, GetAtts, Fn::Sub placeholders, Conditions and DependsOn point at things that exist.
import { loadAwsServiceSpec } from '@aws-cdk/aws-service-spec';
import { RichSpecDatabase, type SpecDatabase } from '@aws-cdk/service-spec-types';

type PropertyType = Parameters<RichSpecDatabase['tryFindDef']>[0];
type Props = Record<string, { type: PropertyType; required?: boolean }>;

let cached: Promise<SpecDatabase> | undefined;
export function specDatabase(): Promise<SpecDatabase> {
  cached ??= loadAwsServiceSpec();
  return cached;
}

const PSEUDO = new Set([
  'AWS::AccountId',
  'AWS::NotificationARNs',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
]);
const RESOURCE_ATTRIBUTES = new Set([
  'Type',
  'Properties',
  'DependsOn',
  'Condition',
  'CreationPolicy',
  'DeletionPolicy',
  'UpdatePolicy',
  'UpdateReplacePolicy',
  'Metadata',
]);
// only these resource types honour a CreationPolicy
const CREATION_POLICY_TYPES = new Set([
  'AWS::EC2::Instance',
  'AWS::AutoScaling::AutoScalingGroup',
  'AWS::CloudFormation::WaitCondition',
  'AWS::AppStream::Fleet',
]);

export async function validateTemplate(template: Record<string, unknown>): Promise<string[]> {
  const db = await specDatabase();
  const rich = new RichSpecDatabase(db);
  const errors: string[] = [];
  const params = (template.Parameters ?? {}) as Record<string, Record<string, unknown>>;
  const resources = (template.Resources ?? {}) as Record<string, Record<string, unknown>>;
  const conditions = (template.Conditions ?? {}) as Record<string, unknown>;
  const specs = new Map<string, ReturnType<typeof lookup>>();

  function lookup(type: string) {
    const found = db.lookup('resource', 'cloudFormationType', 'equals', type);
    return found.length === 1 ? found[0] : undefined;
  }

  if (template.AWSTemplateFormatVersion !== '2010-09-09')
    errors.push('AWSTemplateFormatVersion must be 2010-09-09');
  if (Object.keys(resources).length === 0) errors.push('the template has no Resources');

  for (const [name, p] of Object.entries(params)) {
    if (typeof p.Type !== 'string') errors.push(`parameter ${name} has no Type`);
    else if (!isParameterType(p.Type)) errors.push(`parameter ${name}: ${p.Type} is not a parameter type`);
    if (Array.isArray(p.AllowedValues) && p.Default !== undefined && !p.AllowedValues.includes(p.Default))
      errors.push(`parameter ${name}: Default ${String(p.Default)} is not among its AllowedValues`);
    if (typeof p.AllowedPattern === 'string' && typeof p.Default === 'string') {
      // CloudFormation does not check a Default against the pattern until launch: we do now
      if (!new RegExp(p.AllowedPattern).test(p.Default))
        errors.push(`parameter ${name}: Default "${p.Default}" does not match its AllowedPattern`);
    }
  }

  const ui = (template.Metadata as Record<string, Record<string, unknown>> | undefined)?.[
    'AWS::CloudFormation::Interface'
  ] as
    | { ParameterGroups?: { Parameters?: string[] }[]; ParameterLabels?: Record<string, unknown> }
    | undefined;
  for (const g of ui?.ParameterGroups ?? [])
    for (const p of g.Parameters ?? [])
      if (!(p in params)) errors.push(`AWS::CloudFormation::Interface groups an unknown parameter ${p}`);
  for (const p of Object.keys(ui?.ParameterLabels ?? {}))
    if (!(p in params)) errors.push(`AWS::CloudFormation::Interface labels an unknown parameter ${p}`);

  for (const [name, res] of Object.entries(resources)) {
    for (const key of Object.keys(res))
      if (!RESOURCE_ATTRIBUTES.has(key)) errors.push(`resource ${name}: unknown attribute ${key}`);
    const type = res.Type;
    if (typeof type !== 'string') {
      errors.push(`resource ${name} has no Type`);
      continue;
    }
    const spec = lookup(type);
    specs.set(name, spec);
    if (!spec) {
      errors.push(`resource ${name}: ${type} is not a CloudFormation resource type`);
      continue;
    }
    if (res.CreationPolicy !== undefined && !CREATION_POLICY_TYPES.has(type))
      errors.push(`resource ${name}: ${type} does not support a CreationPolicy`);
    if (res.Condition !== undefined && !(String(res.Condition) in conditions))
      errors.push(`resource ${name}: condition ${String(res.Condition)} is not defined`);
    for (const dep of [res.DependsOn ?? []].flat())
      if (!(String(dep) in resources))
        errors.push(`resource ${name}: DependsOn ${String(dep)} does not exist`);
    checkObject(
      `${name}.Properties`,
      (res.Properties ?? {}) as Record<string, unknown>,
      spec.properties as Props,
    );
  }

  // the wiring: every intrinsic points at something that exists
  const walk = (path: string, v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        walk(`${path}[${i}]`, x);
      });
      return;
    }
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    if (typeof o.Ref === 'string' && !(o.Ref in params) && !(o.Ref in resources) && !PSEUDO.has(o.Ref))
      errors.push(`${path}: Ref ${o.Ref} points at nothing`);
    if ('Fn::GetAtt' in o) checkGetAtt(path, o['Fn::GetAtt']);
    if ('Fn::Sub' in o) {
      const arg = o['Fn::Sub'];
      const [text, vars] = Array.isArray(arg)
        ? [arg[0], (arg[1] ?? {}) as Record<string, unknown>]
        : [arg, {}];
      for (const m of String(text).matchAll(/\$\{([^}!]+)\}/g)) {
        const ref = m[1]!;
        if (ref in vars || ref in params || ref in resources || PSEUDO.has(ref)) continue;
        if (ref.includes('.')) checkGetAtt(path, ref.split('.'));
        else errors.push(`${path}: Fn::Sub placeholder \${${ref}} points at nothing`);
      }
    }
    if ('Fn::If' in o) {
      const cond = (o['Fn::If'] as unknown[])[0];
      if (!(String(cond) in conditions))
        errors.push(`${path}: Fn::If condition ${String(cond)} is not defined`);
    }
    for (const [k, x] of Object.entries(o)) walk(`${path}.${k}`, x);
  };
  const checkGetAtt = (path: string, arg: unknown) => {
    const [target, attr] = (typeof arg === 'string' ? arg.split('.') : (arg as string[])) as [string, string];
    const spec = specs.get(target);
    if (!(target in resources)) errors.push(`${path}: GetAtt target ${target} does not exist`);
    else if (spec && !(attr in spec.attributes))
      errors.push(`${path}: ${target} (${spec.cloudFormationType}) has no attribute ${attr}`);
  };
  walk('Resources', resources);
  walk('Outputs', template.Outputs ?? {});
  walk('Conditions', conditions);
  for (const [name, out] of Object.entries(
    (template.Outputs ?? {}) as Record<string, Record<string, unknown>>,
  ))
    if (out.Value === undefined) errors.push(`output ${name} has no Value`);

  return errors;

  function checkObject(path: string, value: Record<string, unknown>, props: Props): void {
    for (const [key, prop] of Object.entries(props))
      if (prop.required && !(key in value)) errors.push(`${path}: required property ${key} is missing`);
    for (const [key, v] of Object.entries(value)) {
      const prop = props[key];
      if (!prop) {
        errors.push(`${path}: unknown property ${key}`);
        continue;
      }
      checkValue(`${path}.${key}`, v, prop.type);
    }
  }

  function checkValue(path: string, v: unknown, type: PropertyType): void {
    if (isIntrinsic(v)) {
      const o = v as Record<string, unknown>;
      // both branches of an Fn::If must fit the property (AWS::NoValue removes it)
      if ('Fn::If' in o) {
        const [, yes, no] = o['Fn::If'] as unknown[];
        for (const branch of [yes, no]) if (!isNoValue(branch)) checkValue(path, branch, type);
      }
      return;
    }
    switch (type.type) {
      case 'string':
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
          errors.push(`${path}: expected a string`);
        else if (type.allowedValues && !type.allowedValues.includes(String(v)))
          errors.push(`${path}: ${String(v)} is not one of ${type.allowedValues.join(', ')}`);
        return;
      case 'integer':
      case 'number':
        if (!(typeof v === 'number' || (typeof v === 'string' && /^-?[0-9.]+$/.test(v))))
          errors.push(`${path}: expected a number`);
        else if (type.type === 'integer' && !Number.isInteger(Number(v)))
          errors.push(`${path}: expected an integer`);
        return;
      case 'boolean':
        if (!(typeof v === 'boolean' || v === 'true' || v === 'false'))
          errors.push(`${path}: expected a boolean`);
        return;
      case 'json':
        if (typeof v !== 'object' || v === null) errors.push(`${path}: expected a JSON object`);
        return;
      case 'date-time':
      case 'null':
        return;
      case 'tag':
        checkObject(path, v as Record<string, unknown>, {
          Key: { type: { type: 'string' }, required: true },
          Value: { type: { type: 'string' }, required: true },
        });
        return;
      case 'array':
        if (!Array.isArray(v)) errors.push(`${path}: expected a list`);
        else
          v.forEach((x, i) => {
            if (!isNoValue(x)) checkValue(`${path}[${i}]`, x, type.element);
          });
        return;
      case 'map':
        if (typeof v !== 'object' || v === null || Array.isArray(v)) errors.push(`${path}: expected a map`);
        else for (const [k, x] of Object.entries(v)) checkValue(`${path}.${k}`, x, type.element);
        return;
      case 'union': {
        const attempts = type.types.map((t) => {
          const mark = errors.length;
          checkValue(path, v, t);
          return errors.splice(mark);
        });
        if (!attempts.some((a) => a.length === 0))
          errors.push(...(attempts[0] ?? [`${path}: no type matches`]));
        return;
      }
      case 'ref': {
        const def = rich.tryFindDef(type);
        if (!def) return;
        if (typeof v !== 'object' || v === null || Array.isArray(v)) {
          errors.push(`${path}: expected an object (${def.name})`);
          return;
        }
        checkObject(path, v as Record<string, unknown>, def.properties as Props);
        return;
      }
    }
  }
}

// the parameter types CloudFormation knows: plain ones, AWS-specific ones, and SSM-backed ones
const PLAIN_TYPES = new Set(['String', 'Number', 'List<Number>', 'CommaDelimitedList']);
const AWS_TYPES =
  /^(List<)?AWS::EC2::(AvailabilityZone::Name|Image::Id|Instance::Id|KeyPair::KeyName|SecurityGroup::GroupName|SecurityGroup::Id|Subnet::Id|Volume::Id|VPC::Id)>?$|^AWS::Route53::HostedZone::Id$|^List<AWS::Route53::HostedZone::Id>$/;
function isParameterType(type: string): boolean {
  if (PLAIN_TYPES.has(type) || AWS_TYPES.test(type)) return true;
  const ssm = /^AWS::SSM::Parameter::Value<(.+)>$/.exec(type);
  return (
    type === 'AWS::SSM::Parameter::Name' ||
    (!!ssm && (PLAIN_TYPES.has(ssm[1]!) || AWS_TYPES.test(ssm[1]!) || ssm[1] === 'List<String>'))
  );
}

function isIntrinsic(v: unknown): boolean {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'));
}

function isNoValue(v: unknown): boolean {
  return !!v && typeof v === 'object' && (v as { Ref?: string }).Ref === 'AWS::NoValue';
}
