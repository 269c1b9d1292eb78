// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${…} are CloudFormation Fn::Sub placeholders
// Our own rules for the appliance template, beyond what AWS's schemas check: IMDSv2 only, encrypted
// gp3 volumes, SSH closed unless asked for (never from anywhere), the box must signal, the role is
// least-privilege, the password is never echoed. Returns the broken rules (empty = all kept).

// biome-ignore lint/suspicious/noExplicitAny: templates are free-form JSON
type Any = any;

const unwrapIf = (v: Any): { cond?: string; value: Any }[] => {
  if (v && typeof v === 'object' && 'Fn::If' in v) {
    const [cond, yes, no] = v['Fn::If'];
    return [
      { cond, value: yes },
      { cond: `!${cond}`, value: no },
    ].filter((x) => !(x.value && x.value.Ref === 'AWS::NoValue'));
  }
  return [{ value: v }];
};
const isRef = (v: Any, name: string) => v && typeof v === 'object' && v.Ref === name;
const conditionTests = (t: Any, cond: string | undefined, param: string): boolean => {
  // the condition must be Fn::Not [Fn::Equals [Ref param, ""]]
  const c = cond ? t.Conditions?.[cond] : undefined;
  const eq = c?.['Fn::Not']?.[0]?.['Fn::Equals'];
  return Array.isArray(eq) && isRef(eq[0], param) && eq[1] === '';
};

export function checkRules(t: Any): string[] {
  const broken: string[] = [];
  const resources = Object.entries(t.Resources ?? {}) as [string, Any][];
  const byType = (type: string) => resources.filter(([, r]) => r.Type === type);

  const [ltName, lt] = byType('AWS::EC2::LaunchTemplate')[0] ?? [];
  const data = lt?.Properties?.LaunchTemplateData ?? {};
  if (data.MetadataOptions?.HttpTokens !== 'required') broken.push('IMDSv2 must be required');
  if (data.MetadataOptions?.HttpPutResponseHopLimit !== 1) broken.push('the metadata hop limit must be 1');

  const instances = byType('AWS::EC2::Instance');
  if (instances.length !== 1) broken.push('there must be exactly one instance');
  for (const [, inst] of instances) {
    if (!ltName || !isRef(inst.Properties?.LaunchTemplate?.LaunchTemplateId, ltName))
      broken.push('the instance must use the launch template');
    if (inst.Properties?.BlockDeviceMappings || inst.Properties?.Volumes)
      broken.push('volumes must be defined only in the launch template');
    const signal = inst.CreationPolicy?.ResourceSignal;
    if (signal?.Count !== 1 || !/^PT\d+[MH]$/.test(signal?.Timeout ?? ''))
      broken.push('the instance needs a CreationPolicy waiting for 1 signal');
  }
  const mappings: Any[] = data.BlockDeviceMappings ?? [];
  for (const m of mappings) {
    if (m.Ebs?.Encrypted !== true) broken.push(`volume ${m.DeviceName} must be encrypted`);
    if (m.Ebs?.VolumeType !== 'gp3') broken.push(`volume ${m.DeviceName} must be gp3`);
  }
  if (mappings.filter((m) => m.Ebs?.Encrypted === true).length < 2)
    broken.push('there must be an encrypted root volume and a separate encrypted data volume');
  if (byType('AWS::EC2::Volume').some(([, v]) => v.Properties?.Encrypted !== true))
    broken.push('every AWS::EC2::Volume must be encrypted');

  for (const [, sg] of byType('AWS::EC2::SecurityGroup')) {
    for (const entry of (sg.Properties?.SecurityGroupIngress ?? []) as Any[]) {
      for (const { cond, value: rule } of unwrapIf(entry)) {
        const from = Number(rule.FromPort);
        const to = Number(rule.ToPort);
        if (rule.IpProtocol !== 'tcp' || from !== to || (from !== 443 && from !== 22)) {
          broken.push('ingress must be tcp 443 or 22 only');
          continue;
        }
        if (rule.CidrIpv6 !== undefined || rule.SourcePrefixListId !== undefined)
          broken.push('ingress must come from a CIDR parameter');
        if (from === 22 && !(isRef(rule.CidrIp, 'SshCidr') && conditionTests(t, cond, 'SshCidr')))
          broken.push('port 22 must be opened only to the SshCidr parameter, only when it is set');
        if (from === 443 && !isRef(rule.CidrIp, 'HttpsCidr'))
          broken.push('port 443 must be opened to HttpsCidr');
      }
    }
  }
  if (byType('AWS::EC2::SecurityGroupIngress').length > 0)
    broken.push('ingress must be declared on the security group only');
  if (t.Parameters?.SshCidr?.Default !== '') broken.push('SshCidr must default to empty (SSH closed)');
  const rules = JSON.stringify(t.Rules ?? {});
  if (!rules.includes('"0.0.0.0/0"') || !rules.includes('"Ref":"SshCidr"'))
    broken.push('a Rule must refuse SshCidr 0.0.0.0/0');
  if (!rules.includes('"Ref":"HttpsCidr"')) broken.push('a Rule must refuse HttpsCidr 0.0.0.0/0');
  // the patterns themselves must refuse every range wider than a /8
  for (const p of ['HttpsCidr', 'SshCidr']) {
    const pattern = t.Parameters?.[p]?.AllowedPattern;
    const re = typeof pattern === 'string' ? new RegExp(pattern) : null;
    if (!re || ['0.0.0.0/0', '0.0.0.0/1', '128.0.0.0/1', '10.0.0.0/7'].some((c) => re.test(c)))
      broken.push(`${p} must refuse ranges wider than a /8`);
  }

  for (const [, role] of byType('AWS::IAM::Role')) {
    const managed = role.Properties?.ManagedPolicyArns;
    if (managed) {
      // only Session Manager's own policy, only when the deployer asked for it
      const [cond, list, none] = managed['Fn::If'] ?? [];
      const ok =
        cond &&
        t.Conditions?.[cond]?.['Fn::Equals']?.[0]?.Ref === 'SessionManager' &&
        none?.Ref === 'AWS::NoValue' &&
        Array.isArray(list) &&
        list.length === 1 &&
        list[0]?.['Fn::Sub'] === 'arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore';
      if (!ok) broken.push('the role may attach only AmazonSSMManagedInstanceCore, only for Session Manager');
    }
    for (const policy of role.Properties?.Policies ?? []) {
      for (const entry of policy.PolicyDocument?.Statement ?? []) {
        for (const { cond, value: s } of unwrapIf(entry)) {
          const signal =
            s.Effect === 'Allow' &&
            s.Action === 'cloudformation:SignalResource' &&
            isRef(s.Resource, 'AWS::StackId');
          const bucket =
            s.Effect === 'Allow' &&
            (s.Action === 's3:GetObject' || s.Action === 's3:ListBucket') &&
            conditionTests(t, cond, 'ChannelBucket') &&
            String(s.Resource?.['Fn::Sub'] ?? '').includes('${ChannelBucket}');
          const paramArn = (r: Any) =>
            String(r?.['Fn::Sub'] ?? '').endsWith(':parameter${AdminPasswordParameter}');
          const ssm =
            s.Effect === 'Allow' &&
            s.Action === 'ssm:GetParameter' &&
            conditionTests(t, cond, 'AdminPasswordParameter') &&
            paramArn(s.Resource);
          const eq = s.Condition?.StringEquals ?? {};
          const kms =
            s.Effect === 'Allow' &&
            s.Action === 'kms:Decrypt' &&
            conditionTests(t, cond, 'AdminPasswordParameter') &&
            Object.keys(s.Condition ?? {}).join() === 'StringEquals' &&
            String(eq['kms:ViaService']?.['Fn::Sub'] ?? '') === 'ssm.${AWS::Region}.amazonaws.com' &&
            paramArn(eq['kms:EncryptionContext:PARAMETER_ARN']);
          if (!signal && !bucket && !ssm && !kms)
            broken.push(
              'the role may only signal its own stack, read the channel bucket and the password parameter',
            );
        }
      }
    }
  }
  // a password parameter, NoEcho or not, would be copied into the user data, which
  // DescribeInstanceAttribute and IMDS hand out in plain text
  if (Object.keys(t.Parameters ?? {}).some((p) => /password$/i.test(p) || t.Parameters[p].NoEcho))
    broken.push('the template must not take a password (only the name of an SSM SecureString)');
  const userData = JSON.stringify(byType('AWS::EC2::Instance')[0]?.[1]?.Properties?.UserData ?? {});
  for (const p of Object.keys(t.Parameters ?? {}))
    if (/password/i.test(p) && userData.includes(`\${${p}}`) && p !== 'AdminPasswordParameter')
      broken.push(`the user data must not carry ${p}`);
  const grouped = new Set(
    (t.Metadata?.['AWS::CloudFormation::Interface']?.ParameterGroups ?? []).flatMap((g: Any) => g.Parameters),
  );
  if (Object.keys(t.Parameters ?? {}).some((p) => !grouped.has(p)))
    broken.push('every parameter must be in a console parameter group');
  const image = byType('AWS::EC2::Instance')[0]?.[1]?.Properties?.ImageId;
  const fromSsm =
    t.Parameters?.AmiId?.Type === 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>' && isRef(image, 'AmiId');
  const fromMapping =
    t.Parameters?.AmiId?.Type === 'String' &&
    JSON.stringify(image).includes('"Fn::FindInMap":["RegionImage",{"Ref":"AWS::Region"},"Ami"]') &&
    JSON.stringify(t.Rules ?? {}).includes('"Ref":"AWS::Region"');
  if (!fromSsm && !fromMapping)
    broken.push(
      'the AMI must come from an SSM parameter or a per-region mapping (with a Rule for other regions)',
    );
  const url = JSON.stringify(t.Outputs?.AdminUrl?.Value ?? {});
  if (!url.includes('${Instance.PrivateIp}') || !url.includes('HasPublicAddress'))
    broken.push('AdminUrl must fall back to the private address without a public one');
  return [...new Set(broken)];
}
