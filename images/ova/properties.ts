// The first-boot settings offered as vApp options in the OVF ProductSection. The keys are seam 9's
// (appliance/firstboot/settings.ts owns the catalogue); vSphere shows label, description, type and
// hides password fields. The first boot reads them back from the OVF environment by these keys.
export interface OvfProperty {
  key: string;
  label: string;
  description: string;
  /** OVF property types: string, boolean, uint8..uint64, sint8..sint64, real32, real64 */
  type: 'string' | 'boolean';
  /** e.g. MinLen(12), MaxLen(253) — OVF type qualifiers that the vSphere client enforces */
  qualifiers?: string;
  password?: boolean;
  defaultValue?: string;
}

export const FIRSTBOOT_PROPERTIES: readonly OvfProperty[] = [
  {
    key: 'hostname',
    label: 'Host name',
    description: 'Host name of the appliance (empty: keep the default name).',
    type: 'string',
    qualifiers: 'MaxLen(253)',
  },
  {
    key: 'ip',
    label: 'IP address (CIDR)',
    description: 'Static address with prefix length, e.g. 192.0.2.10/24. Empty: DHCP.',
    type: 'string',
    qualifiers: 'MaxLen(43)',
  },
  {
    key: 'gateway',
    label: 'Default gateway',
    description: 'Default gateway for a static address. Empty with DHCP.',
    type: 'string',
    qualifiers: 'MaxLen(39)',
  },
  {
    key: 'dns',
    label: 'DNS servers',
    description: 'Comma-separated DNS server addresses. Empty: from DHCP.',
    type: 'string',
  },
  {
    key: 'ntp',
    label: 'NTP servers',
    description: 'Comma-separated NTP servers. Empty: from DHCP or the Debian pool.',
    type: 'string',
  },
  {
    key: 'admin_password',
    label: 'Administrator password',
    description: 'Password of the admin user of the appliance web page (at least 12 characters).',
    type: 'string',
    qualifiers: 'MinLen(12),MaxLen(256)',
    password: true,
  },
  {
    key: 'ssh_key',
    label: 'SSH public key',
    description: 'An authorized SSH public key for maintenance. Empty: SSH stays off.',
    type: 'string',
  },
  {
    key: 'channel_url',
    label: 'Update channel URL',
    description: 'Where the appliance looks for signed updates. Empty: the built-in channel.',
    type: 'string',
  },
  {
    key: 'http_proxy',
    label: 'HTTP proxy',
    description: 'Proxy for outbound HTTP(S), e.g. http://proxy.example:3128. Empty: none.',
    type: 'string',
  },
];
