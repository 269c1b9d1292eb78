// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${…} are CloudFormation Fn::Sub placeholders
// The CloudFormation template a customer launches with one click. Built here, in one place, as a
// plain object; `drydock aws template` renders it as JSON or YAML, and the tests check it against
// AWS's own resource schemas and our security rules.

/**
 * An IPv4 CIDR no wider than a /8: CloudFormation cannot compute with addresses, so the prefix
 * length is limited by the pattern (/8 to /32). 0.0.0.0/0 and every other range wider than /8
 * (/1 … /7: half the internet and so on) are refused at the parameter, for HTTPS as for SSH.
 */
const CIDR_PATTERN =
  '^(([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\\.){3}([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])/([8-9]|[1-2][0-9]|3[0-2])$';

/** SSM parameter names as the template takes them: hierarchical, so the ARN is `…:parameter${name}` */
const PASSWORD_PARAMETER_PATTERN = '^/[a-zA-Z0-9_.\\-/]{1,1010}$';

/**
 * Instance types by pattern, not a closed list: any family and generation (t3, m7i, c8g …) at size
 * large or bigger, so new types need no new template. The sizes below large (nano … medium) have
 * less than 8 GiB of memory and are refused; the pattern cannot know memory, so the description
 * says what the box needs (c*.large has 4 GiB: too small).
 */
const INSTANCE_TYPE_PATTERN =
  '^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.(large|xlarge|[1-9][0-9]*xlarge|metal(-[0-9]+xl)?)$';
/** examples shown in the console and checked in the tests */
export const INSTANCE_TYPES = ['t3.large', 'm6i.large', 'm7i.xlarge', 'r6i.large', 'c6i.xlarge'] as const;

export interface TemplateOptions {
  /** SSM parameter that `drydock aws publish-ami --ssm-parameter` writes */
  ssmParameter?: string;
  /** the appliance's name, shown in descriptions and tags */
  applianceName?: string;
  /** minutes the stack waits for the box to report its backend healthy */
  signalTimeoutMinutes?: number;
  /**
   * region → AMI id, from `drydock aws publish-ami --out amis.json`: the template a customer
   * launches in their own account, where the publisher's SSM parameter does not exist. With it,
   * AmiId is optional (empty: the image of the stack's region from this mapping).
   */
  amis?: Record<string, string>;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Template = { [k: string]: Json };

const ref = (name: string) => ({ Ref: name });
const noValue = ref('AWS::NoValue');
const ifCond = (cond: string, yes: Json, no: Json = noValue) => ({ 'Fn::If': [cond, yes, no] });
const sub = (text: string, vars?: Record<string, Json>) => ({ 'Fn::Sub': vars ? [text, vars] : text });
const PARAMETER_ARN =
  'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${AdminPasswordParameter}';
const notEmpty = (param: string) => ({ 'Fn::Not': [{ 'Fn::Equals': [ref(param), ''] }] });

export function buildTemplate(opts: TemplateOptions = {}): Template {
  const name = opts.applianceName ?? 'Drydock appliance';
  const timeout = opts.signalTimeoutMinutes ?? 30;
  const amis = opts.amis && Object.keys(opts.amis).length ? opts.amis : null;
  const amiParameter: Json = amis
    ? {
        Type: 'String',
        Default: '',
        AllowedPattern: '^$|^ami-([0-9a-f]{8}|[0-9a-f]{17})$',
        ConstraintDescription: 'empty, or an AMI id (ami-…)',
        Description: `Empty: the published image of this region (${Object.keys(amis).join(', ')}); or an AMI id of your own`,
      }
    : {
        Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
        Default: opts.ssmParameter ?? '/drydock/ami',
        Description: 'The SSM parameter that holds the appliance AMI id in this region',
      };
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `${name}: a single-node k3s appliance with signed, health-gated updates (drydock)`,
    Metadata: {
      'AWS::CloudFormation::Interface': {
        ParameterGroups: [
          {
            Label: { default: 'Appliance' },
            Parameters: ['AmiId', 'InstanceType', 'DataVolumeSize', 'DeleteDataOnTermination'],
          },
          {
            Label: { default: 'Network' },
            Parameters: ['VpcId', 'SubnetId', 'PublicAddress', 'HttpsCidr', 'AllocateElasticIp'],
          },
          {
            Label: { default: 'Access' },
            Parameters: ['AdminPasswordParameter', 'SessionManager', 'KeyName', 'SshCidr'],
          },
          { Label: { default: 'Updates' }, Parameters: ['ChannelUrl', 'ChannelBucket'] },
        ],
        ParameterLabels: {
          AmiId: {
            default: amis ? 'Appliance image (empty: the published one)' : 'Appliance image (SSM parameter)',
          },
          PublicAddress: { default: 'Give the appliance a public IP address?' },
          SessionManager: { default: 'Allow AWS Systems Manager Session Manager?' },
          InstanceType: { default: 'Instance type' },
          DataVolumeSize: { default: 'Data volume size (GiB)' },
          DeleteDataOnTermination: { default: 'Delete the data volume with the stack?' },
          VpcId: { default: 'VPC' },
          SubnetId: { default: 'Subnet' },
          HttpsCidr: { default: 'Who may open the admin page (CIDR)' },
          AllocateElasticIp: { default: 'Give the appliance an Elastic IP?' },
          AdminPasswordParameter: {
            default: 'SSM SecureString with the first admin password (empty: the instance ID)',
          },
          KeyName: { default: 'SSH key pair (optional)' },
          SshCidr: { default: 'Who may SSH in (CIDR, empty: nobody)' },
          ChannelUrl: { default: 'Update channel URL (optional)' },
          ChannelBucket: { default: 'S3 bucket of the update channel (optional)' },
        },
      },
    },
    Parameters: {
      AmiId: amiParameter,
      InstanceType: {
        Type: 'String',
        Default: 't3.large',
        AllowedPattern: INSTANCE_TYPE_PATTERN,
        ConstraintDescription: 'an EC2 instance type of size large or bigger, e.g. t3.large, m7i.xlarge',
        Description: `At least 2 vCPUs and 8 GiB of memory (e.g. ${INSTANCE_TYPES.join(', ')})`,
      },
      DataVolumeSize: {
        Type: 'Number',
        Default: 50,
        MinValue: 10,
        MaxValue: 16384,
        Description: 'Size of the encrypted data volume (k3s state, backend data, update snapshots)',
      },
      DeleteDataOnTermination: {
        Type: 'String',
        Default: 'false',
        AllowedValues: ['true', 'false'],
        Description: 'Keep (false) or delete (true) the data volume when the stack is deleted',
      },
      VpcId: { Type: 'AWS::EC2::VPC::Id', Description: 'The VPC to launch into' },
      SubnetId: {
        Type: 'AWS::EC2::Subnet::Id',
        Description: 'A subnet of that VPC (public, if the admin page is to be reached from the internet)',
      },
      HttpsCidr: {
        // refused rather than warned: CloudFormation has no warnings (a Rule passes or fails the
        // launch), and the admin page installs software as root; whoever wants it public puts
        // their own load balancer or VPN in front, or names their offices' ranges
        Type: 'String',
        AllowedPattern: CIDR_PATTERN,
        ConstraintDescription: 'an IPv4 CIDR from /8 to /32 such as 203.0.113.0/24 (not 0.0.0.0/0)',
        Description:
          'The addresses allowed to reach the admin page on port 443: your network, at most a /8 (the whole internet is refused)',
      },
      PublicAddress: {
        Type: 'String',
        Default: 'true',
        AllowedValues: ['true', 'false'],
        Description:
          'false in a private subnet: no public address, and AdminUrl is the private one (reach it over VPN, Direct Connect or Session Manager port forwarding)',
      },
      SessionManager: {
        Type: 'String',
        Default: 'false',
        AllowedValues: ['true', 'false'],
        Description:
          'true: the role gets AmazonSSMManagedInstanceCore, for Session Manager shells and port forwarding instead of SSH (the image must carry amazon-ssm-agent)',
      },
      AllocateElasticIp: {
        Type: 'String',
        Default: 'false',
        AllowedValues: ['true', 'false'],
        Description: 'A fixed public address for the appliance',
      },
      AdminPasswordParameter: {
        // a name, never the password: user data is readable by anyone who may describe the
        // instance, so the box reads the SecureString itself with its role (this parameter only)
        Type: 'String',
        Default: '',
        AllowedPattern: `^$|${PASSWORD_PARAMETER_PATTERN}`,
        ConstraintDescription: 'empty, or an SSM parameter name starting with / (e.g. /acme/appliance/admin)',
        Description:
          'An SSM SecureString parameter of this region holding the first admin password; empty = the instance ID. Either must be changed at the first sign-in',
      },
      KeyName: {
        // AWS::EC2::KeyPair::KeyName cannot be left empty, so a String with a condition
        Type: 'String',
        Default: '',
        AllowedPattern: '^[ -~]{0,255}$',
        Description: 'An EC2 key pair for SSH; empty for none',
      },
      SshCidr: {
        Type: 'String',
        Default: '',
        AllowedPattern: `^$|${CIDR_PATTERN}`,
        ConstraintDescription: 'empty, or an IPv4 CIDR from /8 to /32 (not 0.0.0.0/0)',
        Description: 'SSH (port 22) stays closed unless a CIDR is given here',
      },
      ChannelUrl: {
        Type: 'String',
        Default: '',
        AllowedPattern: '^$|^https://[!#-\\[\\]-~]+$',
        ConstraintDescription: 'empty or an https:// URL',
        Description: 'The update channel the appliance checks (empty: offline bundles only)',
      },
      ChannelBucket: {
        Type: 'String',
        Default: '',
        AllowedPattern: '^$|^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
        Description: 'If the channel is a private S3 bucket, its name: the appliance may read it',
      },
    },
    // the CIDR pattern refuses these first; the Rules keep refusing them should the pattern be loosened
    Rules: {
      ...(amis
        ? {
            ImageForThisRegion: {
              RuleCondition: { 'Fn::Equals': [ref('AmiId'), ''] },
              Assertions: [
                {
                  Assert: { 'Fn::Contains': [Object.keys(amis), ref('AWS::Region')] },
                  AssertDescription: `The appliance image is published in ${Object.keys(amis).join(', ')}; launch there, or give an AMI id`,
                },
              ],
            },
          }
        : {}),
      HttpsNotFromAnywhere: {
        Assertions: [
          {
            Assert: { 'Fn::Not': [{ 'Fn::Contains': [['0.0.0.0/0'], ref('HttpsCidr')] }] },
            AssertDescription:
              'The admin page must not be open to the whole internet; give your network (at most a /8)',
          },
        ],
      },
      SshNotFromAnywhere: {
        Assertions: [
          {
            Assert: { 'Fn::Not': [{ 'Fn::Contains': [['0.0.0.0/0'], ref('SshCidr')] }] },
            AssertDescription:
              'SSH must not be open to the whole internet; give a narrower CIDR or leave it empty',
          },
        ],
      },
    },
    Conditions: {
      HasKeyName: notEmpty('KeyName'),
      HasSsh: notEmpty('SshCidr'),
      HasPasswordParameter: notEmpty('AdminPasswordParameter'),
      HasChannelUrl: notEmpty('ChannelUrl'),
      HasBucket: notEmpty('ChannelBucket'),
      HasElasticIp: { 'Fn::Equals': [ref('AllocateElasticIp'), 'true'] },
      HasPublicAddress: { 'Fn::Equals': [ref('PublicAddress'), 'true'] },
      HasSessionManager: { 'Fn::Equals': [ref('SessionManager'), 'true'] },
      ...(amis ? { HasAmiId: notEmpty('AmiId') } : {}),
    },
    ...(amis
      ? {
          Mappings: {
            RegionImage: Object.fromEntries(Object.entries(amis).map(([r, id]) => [r, { Ami: id }])),
          },
        }
      : {}),
    Resources: {
      SecurityGroup: {
        Type: 'AWS::EC2::SecurityGroup',
        Properties: {
          GroupDescription: sub('${AWS::StackName}: HTTPS to the admin page, SSH only if asked for'),
          VpcId: ref('VpcId'),
          SecurityGroupIngress: [
            {
              IpProtocol: 'tcp',
              FromPort: 443,
              ToPort: 443,
              CidrIp: ref('HttpsCidr'),
              Description: 'admin page and API',
            },
            ifCond('HasSsh', {
              IpProtocol: 'tcp',
              FromPort: 22,
              ToPort: 22,
              CidrIp: ref('SshCidr'),
              Description: 'SSH',
            }),
          ],
          Tags: [{ Key: 'Name', Value: sub('${AWS::StackName}') }],
        },
      },
      Role: {
        Type: 'AWS::IAM::Role',
        Properties: {
          Description:
            'What the appliance may do: report its first boot to this stack, read its update channel',
          AssumeRolePolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' },
            ],
          },
          // Session Manager instead of SSH, only when asked for
          ManagedPolicyArns: ifCond('HasSessionManager', [
            sub('arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore'),
          ]),
          Policies: [
            {
              PolicyName: 'appliance',
              PolicyDocument: {
                Version: '2012-10-17',
                Statement: [
                  { Effect: 'Allow', Action: 'cloudformation:SignalResource', Resource: ref('AWS::StackId') },
                  ifCond('HasPasswordParameter', {
                    Effect: 'Allow',
                    Action: 'ssm:GetParameter',
                    Resource: sub(PARAMETER_ARN),
                  }),
                  // a customer-managed key needs this; the AWS-managed aws/ssm key's own policy
                  // already lets the account decrypt through SSM. Only via SSM, only this parameter.
                  ifCond('HasPasswordParameter', {
                    Effect: 'Allow',
                    Action: 'kms:Decrypt',
                    Resource: sub('arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*'),
                    Condition: {
                      StringEquals: {
                        'kms:ViaService': sub('ssm.${AWS::Region}.amazonaws.com'),
                        'kms:EncryptionContext:PARAMETER_ARN': sub(PARAMETER_ARN),
                      },
                    },
                  }),
                  ifCond('HasBucket', {
                    Effect: 'Allow',
                    Action: 's3:GetObject',
                    Resource: sub('arn:${AWS::Partition}:s3:::${ChannelBucket}/*'),
                  }),
                  ifCond('HasBucket', {
                    Effect: 'Allow',
                    Action: 's3:ListBucket',
                    Resource: sub('arn:${AWS::Partition}:s3:::${ChannelBucket}'),
                  }),
                ],
              },
            },
          ],
        },
      },
      InstanceProfile: {
        Type: 'AWS::IAM::InstanceProfile',
        Properties: { Roles: [ref('Role')] },
      },
      LaunchTemplate: {
        // IMDSv2 and the encrypted volumes live in a launch template, which every region and
        // partition accepts for them
        Type: 'AWS::EC2::LaunchTemplate',
        Properties: {
          LaunchTemplateData: {
            MetadataOptions: { HttpEndpoint: 'enabled', HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
            BlockDeviceMappings: [
              {
                DeviceName: '/dev/xvda',
                Ebs: { VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true },
              },
              {
                DeviceName: '/dev/sdf',
                Ebs: {
                  VolumeType: 'gp3',
                  Encrypted: true,
                  VolumeSize: ref('DataVolumeSize'),
                  DeleteOnTermination: ref('DeleteDataOnTermination'),
                },
              },
            ],
            TagSpecifications: [
              { ResourceType: 'volume', Tags: [{ Key: 'Name', Value: sub('${AWS::StackName}') }] },
            ],
          },
        },
      },
      Instance: {
        Type: 'AWS::EC2::Instance',
        CreationPolicy: { ResourceSignal: { Count: 1, Timeout: `PT${timeout}M` } },
        Properties: {
          LaunchTemplate: {
            LaunchTemplateId: ref('LaunchTemplate'),
            Version: { 'Fn::GetAtt': ['LaunchTemplate', 'LatestVersionNumber'] },
          },
          ImageId: amis
            ? ifCond('HasAmiId', ref('AmiId'), {
                'Fn::FindInMap': ['RegionImage', ref('AWS::Region'), 'Ami'],
              })
            : ref('AmiId'),
          InstanceType: ref('InstanceType'),
          KeyName: ifCond('HasKeyName', ref('KeyName')),
          // the interface is declared so that the public address is chosen here, not by the
          // subnet's default: AdminUrl then knows which address the box has
          NetworkInterfaces: [
            {
              DeviceIndex: '0',
              SubnetId: ref('SubnetId'),
              GroupSet: [ref('SecurityGroup')],
              AssociatePublicIpAddress: ifCond('HasPublicAddress', true, false),
              DeleteOnTermination: true,
            },
          ],
          IamInstanceProfile: ref('InstanceProfile'),
          UserData: { 'Fn::Base64': userData() },
          Tags: [{ Key: 'Name', Value: sub('${AWS::StackName}') }],
        },
      },
      ElasticIp: {
        Type: 'AWS::EC2::EIP',
        Condition: 'HasElasticIp',
        Properties: { Domain: 'vpc', InstanceId: ref('Instance') },
      },
    },
    Outputs: {
      AdminUrl: {
        Description:
          "The admin page (self-signed certificate: compare its SHA-256 fingerprint with the one first boot prints to the instance's system log)",
        Value: ifCond(
          'HasElasticIp',
          sub('https://${ElasticIp}'),
          ifCond(
            'HasPublicAddress',
            sub('https://${Instance.PublicIp}'),
            sub('https://${Instance.PrivateIp}'),
          ),
        ),
      },
      CertificateFingerprint: {
        Description: 'Where to read the admin page certificate fingerprint before trusting it',
        Value: sub(
          'EC2 console, instance ${Instance}, Actions, Monitor, Get system log: the line "TLS certificate SHA-256 ..." of first boot',
        ),
      },
      AdminUrlPrivate: {
        Description: 'The admin page from inside the VPC',
        Value: sub('https://${Instance.PrivateIp}'),
      },
      InstanceId: { Description: 'The appliance instance', Value: ref('Instance') },
      FirstPassword: {
        Description: 'How to sign in the first time (user admin)',
        Value: ifCond(
          'HasPasswordParameter',
          sub(
            'user admin, the value of SSM parameter ${AdminPasswordParameter}; you must change it at the first sign-in',
          ),
          sub('user admin, the instance ID ${Instance}; you must change it at the first sign-in'),
        ),
      },
    },
  };
}

/**
 * First-boot settings (the `drydock:` YAML that the appliance's first boot reads from EC2 user
 * data): empty optional values are left out, and `cloudformation` tells the box whom to signal.
 */
function userData(): Json {
  return sub(
    [
      '# drydock first-boot settings',
      'drydock:',
      '${PasswordLine}',
      '${ChannelLine}',
      '  cloudformation:',
      '    stack: "${AWS::StackName}"',
      '    resource: Instance',
      '    region: "${AWS::Region}"',
      '',
    ].join('\n'),
    {
      // the parameter's name only; the password stays in SSM
      PasswordLine: ifCond(
        'HasPasswordParameter',
        sub('  admin_password_parameter: "${AdminPasswordParameter}"'),
        '  # admin password: the instance ID',
      ),
      ChannelLine: ifCond('HasChannelUrl', sub('  channel_url: "${ChannelUrl}"'), '  # channel_url: none'),
    },
  );
}
