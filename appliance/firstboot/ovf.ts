// The OVF environment (DSP0243 §11): vSphere hands it over through VMware Tools
// (`vmtoolsd --cmd "info-get guestinfo.ovfEnv"`), other hypervisors through the ISO transport
// (a CD labelled "OVF ENV" carrying ovf-env.xml). The document is small and flat, so a strict
// scan of its PropertySection is enough; no XML library goes onto the box for it.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DrydockError } from '../../core/index.ts';
import type { Exec } from './deps.ts';
import { readIsoFile, readIsoVolumeId } from './iso9660.ts';
import { SETTING_KEYS } from './settings.ts';

const ENV_NS = 'http://schemas.dmtf.org/ovf/environment/1';
const OVF_ISO_LABEL = 'OVF ENV';

function decodeXml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) => {
    const l = e.toLowerCase();
    if (l === 'amp') return '&';
    if (l === 'lt') return '<';
    if (l === 'gt') return '>';
    if (l === 'quot') return '"';
    if (l === 'apos') return "'";
    return String.fromCodePoint(l.startsWith('#x') ? Number.parseInt(l.slice(2), 16) : Number(l.slice(1)));
  });
}

function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(/([\w.-]+:)?([\w.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g))
    out.set(m[2]!, decodeXml(m[3] ?? m[4] ?? ''));
  return out;
}

/**
 * Properties of this VM's own PropertySection. Nested <Entity> blocks (the other VMs of a vApp)
 * are skipped. A key may carry the ProductSection class as a prefix ("drydock.hostname").
 */
export function parseOvfEnvironment(xml: string): Record<string, string> {
  const body = xml.replace(/<!--[\s\S]*?-->/g, '');
  const root = /<([\w-]+:)?Environment\b[^>]*>/.exec(body);
  if (!root?.[0].includes(ENV_NS))
    throw new DrydockError(
      'FIRSTBOOT_SETTING_INVALID',
      'the OVF environment is not an <Environment> document of the OVF environment namespace',
    );
  const own = body.replace(/<([\w-]+:)?Entity\b[\s\S]*?<\/([\w-]+:)?Entity>/g, '');
  const props: Record<string, string> = {};
  for (const m of own.matchAll(/<([\w-]+:)?Property\b([^>]*?)\/?>/g)) {
    const a = attributes(m[2]!);
    const key = a.get('key');
    if (!key) continue;
    const bare = key.includes('.') ? key.slice(key.lastIndexOf('.') + 1) : key;
    const name = (SETTING_KEYS as readonly string[]).includes(key) ? key : bare;
    props[name] = a.get('value') ?? '';
  }
  return props;
}

/** vSphere: VMware Tools' guestinfo. null when the tool is absent or has no environment. */
export async function readOvfFromVmtools(exec: Exec, timeoutMs = 10_000): Promise<string | null> {
  // off VMware (QEMU, EC2) the backdoor call fails; a hang must not hold up the boot either
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  try {
    const r = await Promise.race([exec('vmtoolsd', ['--cmd', 'info-get guestinfo.ovfEnv']), timeout]);
    if (r?.code !== 0 || !r.stdout.includes('Environment')) return null;
    return r.stdout;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The ISO transport: the CD whose volume label is "OVF ENV". udev names it
 * /dev/disk/by-label/OVF\x20ENV; without udev (early boot, tests) the optical drives are probed.
 * Read straight from the ISO 9660 image, so nothing is mounted.
 */
export async function readOvfFromIso(root: string): Promise<string | null> {
  const candidates: string[] = [join(root, 'dev/disk/by-label/OVF\\x20ENV')];
  try {
    for (const n of await readdir(join(root, 'dev')))
      if (/^(sr\d+|cdrom)$/.test(n)) candidates.push(join(root, 'dev', n));
  } catch {
    // no /dev under this root
  }
  for (const dev of candidates) {
    try {
      // udev's links are relative (../../sr0), so opening the link resolves inside the same root
      if ((await readIsoVolumeId(dev)) !== OVF_ISO_LABEL) continue;
      const data = await readIsoFile(dev, 'ovf-env.xml');
      if (data) return data.toString('utf8');
    } catch {
      // not a readable ISO: try the next drive
    }
  }
  return null;
}
