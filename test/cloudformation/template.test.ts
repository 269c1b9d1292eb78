// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${…} are CloudFormation Fn::Sub placeholders
// The template, validated offline against AWS's resource schemas (@aws-cdk/aws-service-spec) and the
// EC2 API's own enums, and against our security rules. Each check is also shown to fail on a
// template that breaks it, so a validator that accepts everything cannot pass here.
import {
  _InstanceType,
  DomainType,
  LaunchTemplateHttpTokensState,
  LaunchTemplateInstanceMetadataEndpointState,
  VolumeType,
} from '@aws-sdk/client-ec2';
import { describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { checkSettings, parseUserData } from '../../appliance/index.ts';
import { buildTemplate, INSTANCE_TYPES, quickCreateUrl, renderTemplate } from '../../cloudformation/index.ts';
import { checkRules } from './rules.ts';
import { validateTemplate } from './spec-validator.ts';

// biome-ignore lint/suspicious/noExplicitAny: templates are free-form JSON
type Any = any;
const fresh = (): Any => structuredClone(buildTemplate());

describe('the template against the AWS resource specification', () => {
  test('every resource type, property, nested property and wiring is valid', async () => {
    expect(await validateTemplate(fresh())).toEqual([]);
  });

  test("fits CloudFormation's 51,200-byte limit for a template sent in the request body", () => {
    expect(renderTemplate(buildTemplate(), 'json').length).toBeLessThan(51_200);
    expect(renderTemplate(buildTemplate(), 'yaml').length).toBeLessThan(51_200);
  });

  test('also with every option set', async () => {
    const t = buildTemplate({
      ssmParameter: '/acme/appliance/ami',
      applianceName: 'Acme',
      signalTimeoutMinutes: 45,
    });
    expect(await validateTemplate(t as Any)).toEqual([]);
    expect((t as Any).Resources.Instance.CreationPolicy.ResourceSignal.Timeout).toBe('PT45M');
    expect((t as Any).Parameters.AmiId.Default).toBe('/acme/appliance/ami');
  });

  test('an unknown resource type is refused', async () => {
    const t = fresh();
    t.Resources.SecurityGroup.Type = 'AWS::EC2::SecurityGroupp';
    expect(await validateTemplate(t)).toContain(
      'resource SecurityGroup: AWS::EC2::SecurityGroupp is not a CloudFormation resource type',
    );
  });

  test('an unknown property, top-level or nested, is refused', async () => {
    const t = fresh();
    t.Resources.Instance.Properties.ImageID = 'ami-1';
    t.Resources.LaunchTemplate.Properties.LaunchTemplateData.MetadataOptions.HttpToken = 'required';
    const errors = await validateTemplate(t);
    expect(errors).toContain('Instance.Properties: unknown property ImageID');
    expect(errors).toContain(
      'LaunchTemplate.Properties.LaunchTemplateData.MetadataOptions: unknown property HttpToken',
    );
  });

  test('a missing required property is refused', async () => {
    const t = fresh();
    delete t.Resources.SecurityGroup.Properties.GroupDescription;
    delete t.Resources.Role.Properties.AssumeRolePolicyDocument;
    delete t.Resources.Instance.Properties.Tags[0].Value;
    const errors = await validateTemplate(t);
    expect(errors).toContain('Instance.Properties.Tags[0]: required property Value is missing');

    expect(errors).toContain('SecurityGroup.Properties: required property GroupDescription is missing');
    expect(errors).toContain('Role.Properties: required property AssumeRolePolicyDocument is missing');
  });

  test('a value outside the enum the spec gives is refused, in both branches of Fn::If', async () => {
    const t = fresh();
    t.Resources.Instance.Properties.Affinity = { 'Fn::If': ['HasSsh', 'host', 'sometimes'] };
    expect(await validateTemplate(t)).toContain(
      'Instance.Properties.Affinity: sometimes is not one of default, host',
    );
  });

  test('wrong primitive types are refused', async () => {
    const t = fresh();
    t.Resources.LaunchTemplate.Properties.LaunchTemplateData.MetadataOptions.HttpPutResponseHopLimit = 'one';
    t.Resources.LaunchTemplate.Properties.LaunchTemplateData.BlockDeviceMappings[0].Ebs.Encrypted = 'yes';
    t.Resources.SecurityGroup.Properties.SecurityGroupIngress = { IpProtocol: 'tcp' };
    const errors = await validateTemplate(t);
    expect(errors).toContain(
      'LaunchTemplate.Properties.LaunchTemplateData.MetadataOptions.HttpPutResponseHopLimit: expected a number',
    );
    expect(errors).toContain(
      'LaunchTemplate.Properties.LaunchTemplateData.BlockDeviceMappings[0].Ebs.Encrypted: expected a boolean',
    );
    expect(errors).toContain('SecurityGroup.Properties.SecurityGroupIngress: expected a list');
  });

  test('dangling Refs, GetAtts, Sub placeholders and conditions are refused', async () => {
    const t = fresh();
    t.Resources.Instance.Properties.SubnetId = { Ref: 'Subnet' };
    t.Resources.Instance.Properties.LaunchTemplate.Version = { 'Fn::GetAtt': ['LaunchTemplate', 'Version'] };
    t.Outputs.AdminUrl.Value = { 'Fn::Sub': 'https://${Instance.PublicDns}' };
    t.Resources.ElasticIp.Condition = 'WantsEip';
    const errors = await validateTemplate(t);
    expect(errors).toContain('Resources.Instance.Properties.SubnetId: Ref Subnet points at nothing');
    expect(errors).toContain(
      'Resources.Instance.Properties.LaunchTemplate.Version: LaunchTemplate (AWS::EC2::LaunchTemplate) has no attribute Version',
    );
    expect(errors).toContain(
      'Outputs.AdminUrl.Value: Instance (AWS::EC2::Instance) has no attribute PublicDns',
    );
    expect(errors).toContain('resource ElasticIp: condition WantsEip is not defined');
  });

  test('an unknown parameter type or a console group naming no parameter is refused', async () => {
    const t = fresh();
    t.Parameters.AmiId.Type = 'AWS::SSM::Parameter::Value<AWS::EC2::Ami::Id>';
    t.Parameters.VpcId.Type = 'AWS::EC2::Vpc::Id';
    t.Metadata['AWS::CloudFormation::Interface'].ParameterGroups[0].Parameters.push('Ghost');
    const errors = await validateTemplate(t);
    expect(errors).toContain(
      'parameter AmiId: AWS::SSM::Parameter::Value<AWS::EC2::Ami::Id> is not a parameter type',
    );
    expect(errors).toContain('parameter VpcId: AWS::EC2::Vpc::Id is not a parameter type');
    expect(errors).toContain('AWS::CloudFormation::Interface groups an unknown parameter Ghost');
  });

  test('a CreationPolicy on a resource type that ignores it is refused', async () => {
    const t = fresh();
    t.Resources.LaunchTemplate.CreationPolicy = t.Resources.Instance.CreationPolicy;
    expect(await validateTemplate(t)).toContain(
      'resource LaunchTemplate: AWS::EC2::LaunchTemplate does not support a CreationPolicy',
    );
  });

  test('values the CFN spec leaves open are among the EC2 API enums', () => {
    const t = fresh();
    const data = t.Resources.LaunchTemplate.Properties.LaunchTemplateData;
    // the examples are real types, and the pattern takes them
    const pattern = new RegExp(t.Parameters.InstanceType.AllowedPattern);
    for (const type of INSTANCE_TYPES) {
      expect(Object.values(_InstanceType), type).toContain(type);
      expect(pattern.test(type), type).toBe(true);
    }
    for (const m of data.BlockDeviceMappings) expect(Object.values(VolumeType)).toContain(m.Ebs.VolumeType);
    expect(Object.values(LaunchTemplateHttpTokensState)).toContain(data.MetadataOptions.HttpTokens);
    expect(Object.values(LaunchTemplateInstanceMetadataEndpointState)).toContain(
      data.MetadataOptions.HttpEndpoint,
    );
    expect(Object.values(DomainType)).toContain(t.Resources.ElasticIp.Properties.Domain);
  });
});

describe('instance types by pattern', () => {
  test('every EC2 type of size large or bigger passes, every smaller one and junk is refused', () => {
    const pattern = new RegExp(fresh().Parameters.InstanceType.AllowedPattern);
    const all = Object.values(_InstanceType) as string[];
    const small = /\.(nano|micro|small|medium)$/;
    let taken = 0;
    for (const type of all) {
      expect(pattern.test(type), type).toBe(!small.test(type));
      if (!small.test(type)) taken++;
    }
    // the EC2 SDK knows several hundred types; nearly all are large or bigger
    expect(taken).toBeGreaterThan(500);
    for (const junk of [
      '',
      'large',
      't3',
      't3.',
      'T3.large',
      't3.large ',
      't3.huge',
      'm7i.0xlarge',
      'a.b.large',
    ])
      expect(pattern.test(junk), junk).toBe(false);
    // types newer than this SDK's list (a new family or size) still pass
    for (const future of ['m9i.large', 'x9gd.48xlarge', 'c9a.metal-48xl'])
      expect(pattern.test(future)).toBe(true);
  });
});

describe('a template for the customer account (AMIs from publish-ami)', () => {
  const amis = { 'eu-west-1': 'ami-0123456789abcdef0', 'us-east-1': 'ami-0fedcba9876543210' };
  const own = (): Any => structuredClone(buildTemplate({ amis }));

  test('passes the resource schemas, our rules and cfn-lint’s shape: mapping per region, AMI id optional', async () => {
    const t = own();
    expect(await validateTemplate(t)).toEqual([]);
    expect(checkRules(t)).toEqual([]);
    expect(t.Mappings.RegionImage).toEqual({
      'eu-west-1': { Ami: 'ami-0123456789abcdef0' },
      'us-east-1': { Ami: 'ami-0fedcba9876543210' },
    });
    expect(t.Parameters.AmiId).toMatchObject({ Type: 'String', Default: '' });
    expect(t.Resources.Instance.Properties.ImageId).toEqual({
      'Fn::If': [
        'HasAmiId',
        { Ref: 'AmiId' },
        { 'Fn::FindInMap': ['RegionImage', { Ref: 'AWS::Region' }, 'Ami'] },
      ],
    });
    // a region without a published image needs an AMI id
    expect(t.Rules.ImageForThisRegion.Assertions[0].Assert).toEqual({
      'Fn::Contains': [['eu-west-1', 'us-east-1'], { Ref: 'AWS::Region' }],
    });
    const ami = new RegExp(t.Parameters.AmiId.AllowedPattern);
    for (const ok of ['', 'ami-12345678', 'ami-0123456789abcdef0']) expect(ami.test(ok), ok).toBe(true);
    for (const bad of ['ami-', 'ami-xyz', '/drydock/ami', 'ami-0123456789ABCDEF0'])
      expect(ami.test(bad), bad).toBe(false);
  });

  test('AdminUrl: Elastic IP, else public IP, else the private address; Session Manager only if asked', () => {
    const t = own();
    expect(t.Outputs.AdminUrl.Value).toEqual({
      'Fn::If': [
        'HasElasticIp',
        { 'Fn::Sub': 'https://${ElasticIp}' },
        {
          'Fn::If': [
            'HasPublicAddress',
            { 'Fn::Sub': 'https://${Instance.PublicIp}' },
            { 'Fn::Sub': 'https://${Instance.PrivateIp}' },
          ],
        },
      ],
    });
    const nic = t.Resources.Instance.Properties.NetworkInterfaces[0];
    expect(nic.AssociatePublicIpAddress).toEqual({ 'Fn::If': ['HasPublicAddress', true, false] });
    expect(t.Parameters.SessionManager.Default).toBe('false');
    expect(t.Resources.Role.Properties.ManagedPolicyArns['Fn::If'][0]).toBe('HasSessionManager');
  });

  test.each([
    [
      'another managed policy',
      (t: Any) => {
        t.Resources.Role.Properties.ManagedPolicyArns['Fn::If'][1].push(
          'arn:aws:iam::aws:policy/AdministratorAccess',
        );
      },
      'the role may attach only AmazonSSMManagedInstanceCore, only for Session Manager',
    ],
    [
      'no rule for a region without an image',
      (t: Any) => {
        delete t.Rules.ImageForThisRegion;
        delete t.Rules.HttpsNotFromAnywhere;
        delete t.Rules.SshNotFromAnywhere;
      },
      'the AMI must come from an SSM parameter or a per-region mapping (with a Rule for other regions)',
    ],
    [
      'AdminUrl only public',
      (t: Any) => {
        t.Outputs.AdminUrl.Value = { 'Fn::Sub': 'https://${Instance.PublicIp}' };
      },
      'AdminUrl must fall back to the private address without a public one',
    ],
  ])('breaks a rule with %s', (_n, mutate, message) => {
    const t = own();
    mutate(t);
    expect(checkRules(t)).toContain(message);
  });
});

describe('our rules', () => {
  test('the template keeps them all', () => {
    expect(checkRules(fresh())).toEqual([]);
  });

  const broken: Array<[string, (t: Any) => void, string]> = [
    [
      'IMDSv1 allowed',
      (t) => {
        t.Resources.LaunchTemplate.Properties.LaunchTemplateData.MetadataOptions.HttpTokens = 'optional';
      },
      'IMDSv2 must be required',
    ],
    [
      'metadata reachable from pods',
      (t) => {
        t.Resources.LaunchTemplate.Properties.LaunchTemplateData.MetadataOptions.HttpPutResponseHopLimit = 2;
      },
      'the metadata hop limit must be 1',
    ],
    [
      'instance without the launch template',
      (t) => {
        delete t.Resources.Instance.Properties.LaunchTemplate;
      },
      'the instance must use the launch template',
    ],
    [
      'an unencrypted volume',
      (t) => {
        t.Resources.LaunchTemplate.Properties.LaunchTemplateData.BlockDeviceMappings[1].Ebs.Encrypted = false;
      },
      'volume /dev/sdf must be encrypted',
    ],
    [
      'no separate data volume',
      (t) => {
        t.Resources.LaunchTemplate.Properties.LaunchTemplateData.BlockDeviceMappings.pop();
      },
      'there must be an encrypted root volume and a separate encrypted data volume',
    ],
    [
      'SSH from anywhere',
      (t) => {
        t.Resources.SecurityGroup.Properties.SecurityGroupIngress.push({
          IpProtocol: 'tcp',
          FromPort: 22,
          ToPort: 22,
          CidrIp: '0.0.0.0/0',
        });
      },
      'port 22 must be opened only to the SshCidr parameter, only when it is set',
    ],
    [
      'SSH open by default',
      (t) => {
        t.Parameters.SshCidr.Default = '0.0.0.0/0';
      },
      'SshCidr must default to empty (SSH closed)',
    ],
    [
      'everything open',
      (t) => {
        t.Resources.SecurityGroup.Properties.SecurityGroupIngress[0].IpProtocol = '-1';
      },
      'ingress must be tcp 443 or 22 only',
    ],
    [
      'no CreationPolicy',
      (t) => {
        delete t.Resources.Instance.CreationPolicy;
      },
      'the instance needs a CreationPolicy waiting for 1 signal',
    ],
    [
      'no rule against 0.0.0.0/0',
      (t) => {
        delete t.Rules;
      },
      'a Rule must refuse SshCidr 0.0.0.0/0',
    ],
    [
      'HTTPS from anywhere allowed by the pattern',
      (t) => {
        t.Parameters.HttpsCidr.AllowedPattern = '^.*$';
      },
      'HttpsCidr must refuse ranges wider than a /8',
    ],
    [
      'SSH from a /1 allowed by the pattern',
      (t) => {
        t.Parameters.SshCidr.AllowedPattern = t.Parameters.SshCidr.AllowedPattern.replace('[8-9]', '[0-9]');
      },
      'SshCidr must refuse ranges wider than a /8',
    ],
    [
      'no rule against an open admin page',
      (t) => {
        delete t.Rules.HttpsNotFromAnywhere;
      },
      'a Rule must refuse HttpsCidr 0.0.0.0/0',
    ],
    [
      'a role allowed too much',
      (t) => {
        t.Resources.Role.Properties.Policies[0].PolicyDocument.Statement.push({
          Effect: 'Allow',
          Action: 's3:*',
          Resource: '*',
        });
      },
      'the role may only signal its own stack, read the channel bucket and the password parameter',
    ],
    [
      'SSM read beyond the one parameter',
      (t) => {
        const st = t.Resources.Role.Properties.Policies[0].PolicyDocument.Statement;
        st[1]['Fn::If'][1].Resource = { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:*:*:parameter/*' };
      },
      'the role may only signal its own stack, read the channel bucket and the password parameter',
    ],
    [
      'kms:Decrypt not tied to the parameter',
      (t) => {
        const st = t.Resources.Role.Properties.Policies[0].PolicyDocument.Statement;
        delete st[2]['Fn::If'][1].Condition.StringEquals['kms:EncryptionContext:PARAMETER_ARN'];
      },
      'the role may only signal its own stack, read the channel bucket and the password parameter',
    ],
    [
      'a password parameter (the old NoEcho AdminPassword)',
      (t) => {
        t.Parameters.AdminPassword = { Type: 'String', NoEcho: true, Default: '' };
        t.Metadata['AWS::CloudFormation::Interface'].ParameterGroups[2].Parameters.push('AdminPassword');
      },
      'the template must not take a password (only the name of an SSM SecureString)',
    ],
    [
      'a password copied into the user data',
      (t) => {
        t.Parameters.AdminPassword = { Type: 'String', Default: '' };
        const sub = t.Resources.Instance.Properties.UserData['Fn::Base64']['Fn::Sub'];
        sub[0] += '  admin_password: "${AdminPassword}"\n';
      },
      'the user data must not carry AdminPassword',
    ],
    [
      'no parameter groups',
      (t) => {
        t.Metadata['AWS::CloudFormation::Interface'].ParameterGroups.pop();
      },
      'every parameter must be in a console parameter group',
    ],
  ];
  test.each(broken)('a template with %s breaks a rule', (_name, mutate, message) => {
    const t = fresh();
    mutate(t);
    expect(checkRules(t)).toContain(message);
  });
});

describe('rendering', () => {
  test('JSON and YAML carry the same template', () => {
    const t = buildTemplate();
    expect(JSON.parse(renderTemplate(t, 'json'))).toEqual(t);
    expect(parseYaml(renderTemplate(t, 'yaml'))).toEqual(t);
    expect(renderTemplate(t, 'yaml')).toMatch(/^AWSTemplateFormatVersion: "2010-09-09"$/m);
  });

  const renderUserData = (withParameter: boolean, withChannel: boolean) => {
    const t = fresh();
    const [text, vars] = t.Resources.Instance.Properties.UserData['Fn::Base64']['Fn::Sub'];
    // substitute as CloudFormation would
    return String(text)
      .replace(
        '${PasswordLine}',
        withParameter ? vars.PasswordLine['Fn::If'][1]['Fn::Sub'] : vars.PasswordLine['Fn::If'][2],
      )
      .replace(
        '${ChannelLine}',
        withChannel ? vars.ChannelLine['Fn::If'][1]['Fn::Sub'] : vars.ChannelLine['Fn::If'][2],
      )
      .replace('${AdminPasswordParameter}', '/acme/appliance/admin')
      .replace('${ChannelUrl}', 'https://updates.example.com/stable')
      .replace('${AWS::StackName}', 'acme')
      .replace('${AWS::Region}', 'eu-west-1');
  };

  test('the user data is the first-boot YAML of the settings catalogue: the parameter name, never a password', () => {
    expect(parseYaml(renderUserData(true, false))).toEqual({
      drydock: {
        admin_password_parameter: '/acme/appliance/admin',
        cloudformation: { stack: 'acme', resource: 'Instance', region: 'eu-west-1' },
      },
    });
    // nothing in the template can put a password into the user data
    const ud = JSON.stringify(fresh().Resources.Instance.Properties.UserData);
    expect(ud).not.toMatch(/admin_password:/);
    expect(Object.values(fresh().Parameters).some((p: Any) => p.NoEcho)).toBe(false);
  });

  test("the appliance's first boot reads the user data as meant (appliance/firstboot/settings.ts)", () => {
    const full = parseUserData(renderUserData(true, true));
    expect(full.problem).toBeNull();
    expect(full.cloudformation).toEqual({ stack: 'acme', resource: 'Instance', region: 'eu-west-1' });
    expect(full.passwordParameter).toBe('/acme/appliance/admin');
    expect(checkSettings(full.settings)).toEqual({
      values: { channel_url: 'https://updates.example.com/stable' },
      problems: [],
    });
    // no parameter given: first boot falls back to the instance ID
    const bare = parseUserData(renderUserData(false, false));
    expect(bare.problem).toBeNull();
    expect(bare.passwordParameter).toBeNull();
    expect(checkSettings(bare.settings)).toEqual({ values: {}, problems: [] });
  });

  test('the parameter-name pattern takes SSM names and nothing that could break the YAML', () => {
    const pattern = new RegExp(fresh().Parameters.AdminPasswordParameter.AllowedPattern);
    for (const ok of ['', '/drydock/admin', '/a', '/Acme_1/app.prod/admin-password'])
      expect(pattern.test(ok), ok).toBe(true);
    for (const bad of [
      'drydock-admin',
      '/has space',
      '/quote"d',
      '/back\\slash',
      '/new\nline',
      'S3cure!pa$$word#1',
    ])
      expect(pattern.test(bad), bad).toBe(false);
  });

  test('the CIDR patterns take exactly the IPv4 CIDRs from /8 to /32 (checked against every prefix)', () => {
    const t = fresh();
    const https = new RegExp(t.Parameters.HttpsCidr.AllowedPattern);
    const ssh = new RegExp(t.Parameters.SshCidr.AllowedPattern);
    // an independent judge: four decimal octets 0-255 without leading zeros, a prefix 8-32
    const judge = (c: string) => {
      const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(c);
      if (!m) return false;
      const octets = m.slice(1, 5);
      if (octets.some((o) => Number(o) > 255 || (o.length > 1 && o.startsWith('0')))) return false;
      const prefix = m[5]!;
      return !(prefix.length > 1 && prefix.startsWith('0')) && Number(prefix) >= 8 && Number(prefix) <= 32;
    };
    const addresses = ['0.0.0.0', '10.0.0.0', '128.0.0.0', '203.0.113.7', '255.255.255.255', '192.168.1.0'];
    const cases: string[] = [];
    for (const a of addresses) for (let p = 0; p <= 40; p++) cases.push(`${a}/${p}`);
    cases.push(
      '',
      'anywhere',
      '0.0.0.0/00',
      '10.0.0.0/08',
      '10.0.0.0',
      '10.0.0/8',
      '010.0.0.0/8',
      '256.0.0.0/8',
      '10.0.0.0/8 ',
      ' 10.0.0.0/8',
      '10.0.0.0/8\n',
      '10.0.0.0/-1',
      '::/0',
      '2001:db8::/32',
      '10.0.0.0/8/8',
    );
    let accepted = 0;
    for (const c of cases) {
      expect(https.test(c), JSON.stringify(c)).toBe(judge(c));
      expect(ssh.test(c), JSON.stringify(c)).toBe(c === '' || judge(c));
      if (judge(c)) accepted++;
    }
    // 6 addresses × 25 prefixes (/8 … /32); every /0 … /7 refused
    expect(accepted).toBe(150);
    expect(cases.length).toBeGreaterThan(250);
  });

  test('the CIDR patterns accept CIDRs and refuse junk', () => {
    const t = fresh();
    const https = new RegExp(t.Parameters.HttpsCidr.AllowedPattern);
    const ssh = new RegExp(t.Parameters.SshCidr.AllowedPattern);
    expect(https.test('203.0.113.0/24')).toBe(true);
    expect(https.test('')).toBe(false);
    expect(https.test('300.0.0.0/8')).toBe(false);
    expect(https.test('10.0.0.0/33')).toBe(false);
    expect(ssh.test('')).toBe(true);
    expect(ssh.test('198.51.100.7/32')).toBe(true);
    expect(https.test('0.0.0.0/0')).toBe(false);
    expect(ssh.test('0.0.0.0/1')).toBe(false);
    expect(ssh.test('10.0.0.0/7')).toBe(false);
    expect(https.test('10.0.0.0/8')).toBe(true);
    expect(ssh.test('anywhere')).toBe(false);
  });
});

describe('quick-create link', () => {
  test('opens the console form with the template and values filled in', () => {
    const url = new URL(
      quickCreateUrl({
        templateUrl: 'https://bucket.s3.amazonaws.com/drydock.yaml',
        region: 'eu-central-1',
        stackName: 'acme-appliance',
        params: { InstanceType: 'm6i.large' },
      }),
    );
    expect(url.host).toBe('eu-central-1.console.aws.amazon.com');
    expect(url.searchParams.get('region')).toBe('eu-central-1');
    const [route, query] = url.hash.split('?') as [string, string];
    expect(route).toBe('#/stacks/quickcreate');
    const q = new URLSearchParams(query);
    expect(q.get('templateURL')).toBe('https://bucket.s3.amazonaws.com/drydock.yaml');
    expect(q.get('stackName')).toBe('acme-appliance');
    expect(q.get('param_InstanceType')).toBe('m6i.large');
  });

  test.each([
    [{ templateUrl: 'http://bucket/t.yaml', region: 'us-east-1' }, 'the template URL must be https://'],
    [{ templateUrl: 'not a url', region: 'us-east-1' }, 'template URL not a url is not a URL'],
    [{ templateUrl: 'https://b/t.yaml', region: 'mars-1' }, 'mars-1 is not an AWS region name'],
    [
      { templateUrl: 'https://b/t.yaml', region: 'us-east-1', stackName: '1bad_name' },
      'a stack name starts with a letter',
    ],
  ])('refuses bad input %#', (input, message) => {
    expect(() => quickCreateUrl(input)).toThrow(message);
  });
});
