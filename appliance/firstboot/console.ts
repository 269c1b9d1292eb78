// What the console shows before anyone logs in: agetty prints every /etc/issue.d/*.issue. The banner
// is regenerated at each boot (drydock-banner.service); agetty's \4 escape prints the current IPv4
// address, so the URL is right under DHCP too.
import { rm } from 'node:fs/promises';
import YAML from 'yaml';
import { PATHS } from './apply.ts';
import { readText, under, writeAtomic } from './fsutil.ts';

const BANNER_FILE = `${PATHS.issueDir}/40-drydock.issue`;
const PROBLEMS_FILE = `${PATHS.issueDir}/45-drydock-firstboot.issue`;

export interface Problem {
  /** a setting key, or "source" for an unusable settings source */
  key: string;
  code: 'FIRSTBOOT_SETTING_INVALID';
  message: string;
}

export type PasswordState = 'set' | 'instance-id' | 'none' | 'refused' | 'unchanged';

export interface FirstbootResult {
  status: 'applied' | 'applied-with-problems' | 'already-done';
  at: string;
  source: string;
  via: string;
  applied: string[];
  /** keys read again at the next boot (refused or missing required settings) */
  pending: string[];
  problems: Problem[];
  notes: string[];
  password: PasswordState;
}

/** agetty treats backslash as an escape; text from settings must not inject one. */
function plain(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/[^\x20-\x7e]/g, '?');
}

export async function writeProblems(root: string, problems: Problem[]): Promise<void> {
  const path = under(root, PROBLEMS_FILE);
  if (problems.length === 0) {
    await rm(path, { force: true });
    return;
  }
  const lines = [
    'First boot refused some settings (the appliance uses safe defaults, e.g. DHCP, instead):',
    ...problems.map((p) => `  - ${plain(p.key)}: ${plain(p.message)}`),
    'Correct them (vSphere: vApp Options; AWS: user data) and restart the appliance; they are read again.',
    '',
  ];
  await writeAtomic(path, `${lines.join('\n')}\n`);
}

function bannerText(opts: { name: string; hostname: string | null; result: FirstbootResult | null }): string {
  const r = opts.result;
  const lines = [
    '',
    `  ${plain(opts.name)} appliance`,
    '',
    '  Admin page:  https://\\4/' + (opts.hostname ? `   (or https://${plain(opts.hostname)}/)` : ''),
  ];
  switch (r?.password) {
    case 'set':
    case 'unchanged':
      lines.push(
        '  Sign in as "admin" with the password given when the appliance was deployed;',
        '  you must change it then.',
      );
      break;
    case 'instance-id':
      lines.push(
        '  Sign in as "admin" with this instance\'s ID (i-...) as password; you must change it then.',
      );
      break;
    default:
      lines.push(
        '  No admin password is set yet: set the "admin_password" setting (vSphere: vApp Options;',
        '  AWS: an SSM SecureString named in drydock.admin_password_parameter) and restart.',
      );
  }
  lines.push('  The browser warns about the self-signed certificate until you upload your own.', '');
  return `${lines.join('\n')}\n`;
}

/** Regenerates the banner from config.yaml, /etc/hostname and first boot's result. */
export async function writeBanner(root: string): Promise<string> {
  const cfgText = await readText(under(root, PATHS.config));
  const cfg = cfgText ? (YAML.parse(cfgText) as { name?: unknown } | null) : null;
  const name = typeof cfg?.name === 'string' && cfg.name ? cfg.name : 'Drydock';
  const hostname = (await readText(under(root, PATHS.hostname)))?.trim() || null;
  const resultText = await readText(under(root, `${PATHS.firstbootDir}/result.json`));
  const result = resultText ? (JSON.parse(resultText) as FirstbootResult) : null;
  const text = bannerText({ name, hostname, result });
  await writeAtomic(under(root, BANNER_FILE), text);
  return text;
}
