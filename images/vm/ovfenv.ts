// The OVF ISO transport (DSP0243 §11.1): a CD labelled "OVF ENV" whose ovf-env.xml carries the
// property values — how a hypervisor without VMware Tools hands the vApp settings to the guest.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultExec, type Exec } from '../exec.ts';
import { xmlEscape } from '../ova/index.ts';

function ovfEnvironmentXml(props: Record<string, string>): string {
  const lines = Object.entries(props).map(
    ([k, v]) => `    <Property oe:key="${xmlEscape(k)}" oe:value="${xmlEscape(v)}"/>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:oe="http://schemas.dmtf.org/ovf/environment/1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" oe:id="">
  <PlatformSection>
    <Kind>QEMU</Kind>
    <Vendor>Drydock image test</Vendor>
    <Locale>en</Locale>
  </PlatformSection>
  <PropertySection>
${lines.join('\n')}
  </PropertySection>
</Environment>
`;
}

export async function makeOvfEnvIso(
  dir: string,
  props: Record<string, string>,
  exec: Exec = defaultExec,
): Promise<string> {
  const src = join(dir, 'ovf-env');
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'ovf-env.xml'), ovfEnvironmentXml(props), { mode: 0o600 });
  const iso = join(dir, 'ovf-env.iso');
  await exec('genisoimage', ['-quiet', '-V', 'OVF ENV', '-r', '-J', '-o', iso, src]);
  return iso;
}
