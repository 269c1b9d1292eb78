// The first-boot settings catalogue: one list that the OVF ProductSection (images/ova/properties.ts),
// the EC2 user data (cloudformation/template.ts), the first-boot agent and its docs all read, so a
// key means the same thing everywhere.
import { isIP } from 'node:net';

export const SETTING_KEYS = [
  'hostname',
  'ip',
  'gateway',
  'dns',
  'ntp',
  'admin_password',
  'ssh_key',
  'channel_url',
  'http_proxy',
] as const;
export type SettingKey = (typeof SETTING_KEYS)[number];

export interface SettingDefinition {
  key: SettingKey;
  label: string;
  description: string;
  /** OVF property type; every setting is a string, passwords are flagged separately */
  type: 'string';
  /** shown masked (OVF ovf:password="true", CloudFormation NoEcho) and never logged */
  password: boolean;
  /** OVF qualifiers for the vApp form, e.g. MinLen(12) */
  qualifiers?: string;
  /** value used when the setting is absent or empty ('' = none) */
  default: string;
  /** which group it belongs to: a bad value refuses the whole group (network falls back to DHCP) */
  group: 'identity' | 'network' | 'time' | 'access' | 'updates';
  /** null when valid, else a plain reason that never repeats a password */
  validate(value: string): string | null;
  /** the form that is written to the box, from a valid value (default: as given) */
  normalize?(value: string): string;
  /** line breaks allowed (several SSH keys, one a line); other control characters never are */
  multiline?: boolean;
}

// C0 and C1 controls, DEL, and the Unicode line/paragraph separators: any of them in a value that
// ends up in a config or environment file could start a line of its own (HTTP_PROXY=…\nNODE_OPTIONS=…)
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/;

const PASSWORD_MIN_LENGTH = 12;

const HOST_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

function checkHostname(v: string): string | null {
  if (v.length > 253) return 'a hostname has at most 253 characters';
  if (!v.split('.').every((l) => HOST_LABEL.test(l)))
    return `"${v}" is not a hostname (letters, digits and hyphens, dot-separated labels of 1-63 characters)`;
  return null;
}

function checkCidr(v: string): string | null {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(v);
  if (!m) return `"${v}" is not an address with a prefix length, e.g. 192.0.2.10/24`;
  const family = isIP(m[1]!);
  const prefix = Number(m[2]);
  if (family === 0) return `"${m[1]}" is not an IP address`;
  if (prefix < 1 || prefix > (family === 4 ? 32 : 128)) return `prefix length /${prefix} is out of range`;
  return null;
}

function checkIp(v: string): string | null {
  return isIP(v) ? null : `"${v}" is not an IP address`;
}

export function splitList(v: string): string[] {
  return v
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

function checkList(v: string, each: (s: string) => string | null): string | null {
  for (const item of splitList(v)) {
    const p = each(item);
    if (p) return p;
  }
  return null;
}

/** Weak = short, one kind of character, or a well-known default; the reason never echoes the value. */
export function checkPassword(v: string): string | null {
  if (v.length < PASSWORD_MIN_LENGTH)
    return `the admin password needs at least ${PASSWORD_MIN_LENGTH} characters`;
  if (v.length > 256) return 'the admin password is longer than 256 characters';
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(v)).length;
  if (classes < 2)
    return 'the admin password needs at least two kinds of characters (letters, digits, symbols)';
  if (new Set(v).size < 5) return 'the admin password repeats too few characters';
  // the service refuses a password containing the user name; first boot applies the same rule
  if (/admin/i.test(v)) return 'the admin password must not contain the user name "admin"';
  if (/^(password|changeme|qwerty|letmein|welcome)/i.test(v))
    return 'the admin password starts with a well-known default word';
  return null;
}

const SSH_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

/** One or more OpenSSH public keys, one a line; the key blob must carry its own type name. */
function checkSshKey(v: string): string | null {
  const lines = v
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  for (const line of lines) {
    const [type, blob] = line.split(/\s+/);
    if (!type || !SSH_TYPES.has(type))
      return 'the SSH key is not an OpenSSH public key (ssh-ed25519 AAAA… comment)';
    if (!blob || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) return 'the SSH key has no valid base64 key data';
    const raw = Buffer.from(blob, 'base64');
    const len = raw.length >= 4 ? raw.readUInt32BE(0) : -1;
    if (len < 0 || raw.subarray(4, 4 + len).toString('latin1') !== type)
      return `the SSH key data does not match its type ${type}`;
  }
  return null;
}

function parseUrl(v: string, what: string, schemes: string[]): URL | string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return `"${v}" is not a URL (${what})`;
  }
  if (!schemes.includes(u.protocol))
    return `the ${what} must start with ${schemes.map((s) => `${s}//`).join(' or ')}`;
  if (!u.hostname) return `the ${what} has no host`;
  // WHATWG URL takes host names DNS never would (e.g. "a_b", "a!b"); the box's resolver must find it
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!isIP(host) && checkHostname(host)) return `the ${what} has no valid host name`;
  return u;
}

function checkUrl(v: string, what: string, schemes: string[]): string | null {
  const u = parseUrl(v, what, schemes);
  return typeof u === 'string' ? u : null;
}

function checkProxy(v: string): string | null {
  const u = parseUrl(v, 'HTTP proxy', ['http:', 'https:']);
  if (typeof u === 'string') return u;
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash)
    return 'the HTTP proxy is a scheme, optional user:password@, host and port only (no path)';
  return null;
}

/** Characters systemd's EnvironmentFile parser and shells treat specially are percent-encoded. */
const encodeUserinfo = (s: string) =>
  s.replace(/['$`]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** scheme://[user[:password]@]host[:port], as URL parsed it (userinfo percent-encoded). */
function normalizeProxy(v: string): string {
  const u = new URL(v);
  const auth = u.username
    ? `${encodeUserinfo(u.username)}${u.password ? `:${encodeUserinfo(u.password)}` : ''}@`
    : '';
  return `${u.protocol}//${auth}${u.host}`;
}

export const SETTINGS: readonly SettingDefinition[] = [
  {
    key: 'hostname',
    label: 'Hostname',
    description: 'Name of the appliance on the network (also put in its TLS certificate).',
    type: 'string',
    password: false,
    default: 'drydock',
    group: 'identity',
    validate: checkHostname,
  },
  {
    key: 'ip',
    label: 'IP address (CIDR)',
    description: 'Static address with prefix length, e.g. 192.0.2.10/24. Leave empty to use DHCP.',
    type: 'string',
    password: false,
    default: '',
    group: 'network',
    validate: checkCidr,
  },
  {
    key: 'gateway',
    label: 'Default gateway',
    description: 'Default gateway for a static address. Ignored with DHCP.',
    type: 'string',
    password: false,
    default: '',
    group: 'network',
    validate: checkIp,
  },
  {
    key: 'dns',
    label: 'DNS servers',
    description: 'Comma-separated DNS server addresses (added to those DHCP provides).',
    type: 'string',
    password: false,
    default: '',
    group: 'network',
    validate: (v) => checkList(v, checkIp),
  },
  {
    key: 'ntp',
    label: 'NTP servers',
    description: 'Comma-separated NTP server names or addresses. Empty keeps the distribution defaults.',
    type: 'string',
    password: false,
    default: '',
    group: 'time',
    validate: (v) => checkList(v, (s) => (isIP(s) ? null : checkHostname(s))),
  },
  {
    key: 'admin_password',
    label: 'Admin password',
    description: `Password of the admin page user "admin" (at least ${PASSWORD_MIN_LENGTH} characters, two kinds of characters).`,
    type: 'string',
    password: true,
    qualifiers: `MinLen(${PASSWORD_MIN_LENGTH})`,
    default: '',
    group: 'access',
    validate: checkPassword,
  },
  {
    key: 'ssh_key',
    label: 'SSH public key',
    description: 'OpenSSH public key allowed to log in as root. SSH stays off unless a key is given.',
    type: 'string',
    password: false,
    default: '',
    group: 'access',
    validate: checkSshKey,
    multiline: true,
  },
  {
    key: 'channel_url',
    label: 'Update channel URL',
    description: 'HTTPS address of the update channel. Empty keeps the one built into the image.',
    type: 'string',
    password: false,
    default: '',
    group: 'updates',
    validate: (v) => checkUrl(v, 'update channel URL', ['https:', 'http:']),
    normalize: (v) => new URL(v).href,
  },
  {
    key: 'http_proxy',
    label: 'HTTP proxy',
    description: 'Proxy for outgoing HTTP(S), e.g. http://proxy.example:3128. Empty = direct.',
    type: 'string',
    password: false,
    default: '',
    group: 'updates',
    validate: checkProxy,
    normalize: normalizeProxy,
  },
];

export type Settings = Record<SettingKey, string>;

export interface SettingProblem {
  key: SettingKey;
  message: string;
}

/**
 * Normalises raw values (anything: OVF strings, YAML scalars) into strings, drops unknown keys,
 * and checks each non-empty value. Cross-field rules: a gateway needs a static address of the same
 * family. Returns the values as given plus the problems; applying decides what falls back.
 */
export function checkSettings(raw: Record<string, unknown>): {
  values: Partial<Settings>;
  problems: SettingProblem[];
} {
  const values: Partial<Settings> = {};
  const problems: SettingProblem[] = [];
  for (const def of SETTINGS) {
    const v = raw[def.key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      problems.push({ key: def.key, message: `${def.label} must be text` });
      continue;
    }
    const s = String(v).trim();
    if (s === '') continue;
    values[def.key] = s;
    if ((def.multiline ? CONTROL_BUT_NEWLINE : CONTROL).test(s)) {
      // refused before any parsing: URL() silently drops tabs and newlines, so a checked URL could
      // still carry a line break into the file it is written to
      problems.push({
        key: def.key,
        message: `${def.label} contains a control character (a line break, tab or similar); refused`,
      });
      continue;
    }
    const p = def.validate(s);
    if (p) problems.push({ key: def.key, message: p });
    else if (def.normalize) values[def.key] = def.normalize(s);
  }
  if (values.gateway && !values.ip)
    problems.push({ key: 'gateway', message: 'a gateway was given without a static address (ip)' });
  if (values.gateway && values.ip && !problems.some((p) => p.key === 'ip' || p.key === 'gateway')) {
    if (isIP(values.gateway) !== isIP(values.ip.split('/')[0]!))
      problems.push({ key: 'gateway', message: 'the gateway and the address are not of the same IP family' });
  }
  return { values, problems };
}
