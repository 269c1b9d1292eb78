// The OVF 1.1 descriptor (DMTF DSP0243 / schema DSP8023 1.1.1) for one virtual machine, shaped the
// way vSphere expects it: vmx hardware version, LSI Logic or PVSCSI controller (the VMDKs' adapter
// type says the same, see vmdk.ts), VMXNET3 adapter, an IDE CD-ROM, streamOptimized VMDKs, both
// OVF environment transports (ISO and guestInfo) for the vApp properties, disk.enableUUID.
import { DrydockError } from '../../core/index.ts';
import { DEFAULT_BASE_SPEC } from '../base/spec.ts';
import type { OvfProperty } from './properties.ts';

export interface OvfDisk {
  /** file name inside the OVA */
  fileName: string;
  /** size of the VMDK file in bytes */
  fileSize: number;
  /** virtual size of the disk in bytes */
  capacity: number;
  /** bytes actually allocated (optional hint for the importer) */
  populatedSize?: number;
}

export interface DescriptorInput {
  name: string;
  cpus: number;
  memoryMb: number;
  disks: OvfDisk[];
  properties: readonly OvfProperty[];
  product?: { name?: string; vendor?: string; version?: string; fullVersion?: string; url?: string };
  /** virtual hardware version; default VMX_VERSION (the reason is written beside it) */
  vmxVersion?: number;
  scsi?: 'lsilogic' | 'pvscsi';
  network?: string;
}

/**
 * vmx-14 (ESXi 6.7): conservative on purpose. It is the oldest version that has every device this
 * VM uses (VMXNET3 and PVSCSI since vmx-7, EFI since vmx-8, EFI secure boot since vmx-13/14), and
 * every ESXi from 6.7 through 8.x and 9.0 runs it. A newer version would only refuse older hosts:
 * the appliance needs nothing that vmx-15 or later adds. An admin can upgrade it after import.
 */
const VMX_VERSION = 14;

/**
 * The guest OS is what images/base builds (DEFAULT_BASE_SPEC.suite): CIM id 96 = "Debian 64-bit",
 * ovf:version the Debian release, vmw:osType the matching vSphere guest id. debian13_64Guest is known
 * from vSphere 9.0 on; earlier releases map an id they do not know to a Linux type of their own on
 * import (ovftool and the vSphere Client warn), which is still better than naming the wrong Debian.
 */
const DEBIAN_RELEASES: Record<string, { version: string; vmwOsType: string }> = {
  bookworm: { version: '12', vmwOsType: 'debian12_64Guest' },
  trixie: { version: '13', vmwOsType: 'debian13_64Guest' },
};

function guestOsFor(suite: string): {
  cimId: number;
  version: string;
  vmwOsType: string;
  description: string;
} {
  const r = DEBIAN_RELEASES[suite];
  if (!r) throw new DrydockError('INTERNAL', `no vSphere guest id is known for Debian "${suite}"`);
  return { cimId: 96, ...r, description: `Debian GNU/Linux ${r.version} (64-bit)` };
}

const GUEST_OS = guestOsFor(DEFAULT_BASE_SPEC.suite);

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;

function validateDescriptorInput(i: DescriptorInput): void {
  if (!NAME_RE.test(i.name))
    throw new DrydockError(
      'USAGE',
      `name "${i.name}" must be 1-80 letters, digits, dots, dashes or underscores`,
    );
  if (!Number.isInteger(i.cpus) || i.cpus < 1 || i.cpus > 128)
    throw new DrydockError('USAGE', `cpus must be a whole number from 1 to 128 (got ${i.cpus})`);
  if (
    !Number.isInteger(i.memoryMb) ||
    i.memoryMb < 256 ||
    i.memoryMb > 4 * 1024 * 1024 ||
    i.memoryMb % 4 !== 0
  )
    throw new DrydockError(
      'USAGE',
      `memory must be a multiple of 4 MB from 256 to 4194304 (got ${i.memoryMb})`,
    );
  if (i.disks.length < 1 || i.disks.length > 15)
    throw new DrydockError('USAGE', 'an OVA carries 1 to 15 disks');
  for (const p of i.properties)
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(p.key))
      throw new DrydockError('OVF_INVALID', `bad property key "${p.key}"`);
}

export function xmlEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

interface Item {
  /** ovf:required="false": a host that cannot make this device imports the VM without it */
  optional?: boolean;
  elementName: string;
  instanceId: number;
  resourceType: number;
  description?: string;
  address?: string;
  addressOnParent?: string;
  allocationUnits?: string;
  automaticAllocation?: boolean;
  connection?: string;
  hostResource?: string;
  parent?: number;
  resourceSubType?: string;
  virtualQuantity?: number;
}

// RASD children must come in the schema's (alphabetical) sequence
function item(x: Item): string {
  const el = (tag: string, v: string | number | boolean | undefined) =>
    v === undefined ? '' : `        <rasd:${tag}>${xmlEscape(String(v))}</rasd:${tag}>\n`;
  return (
    (x.optional ? '      <Item ovf:required="false">\n' : '      <Item>\n') +
    el('Address', x.address) +
    el('AddressOnParent', x.addressOnParent) +
    el('AllocationUnits', x.allocationUnits) +
    el('AutomaticAllocation', x.automaticAllocation) +
    el('Connection', x.connection) +
    el('Description', x.description) +
    el('ElementName', x.elementName) +
    el('HostResource', x.hostResource) +
    el('InstanceID', x.instanceId) +
    el('Parent', x.parent) +
    el('ResourceSubType', x.resourceSubType) +
    el('ResourceType', x.resourceType) +
    el('VirtualQuantity', x.virtualQuantity) +
    '      </Item>\n'
  );
}

export function buildDescriptor(input: DescriptorInput): string {
  validateDescriptorInput(input);
  const vmx = input.vmxVersion ?? VMX_VERSION;
  const scsi = input.scsi ?? 'pvscsi';
  const network = input.network ?? 'VM Network';
  const product = input.product ?? {};
  const e = xmlEscape;

  const files = input.disks
    .map((d, n) => `    <File ovf:href="${e(d.fileName)}" ovf:id="file${n + 1}" ovf:size="${d.fileSize}"/>\n`)
    .join('');
  const disks = input.disks
    .map(
      (d, n) =>
        `    <Disk ovf:capacity="${d.capacity}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk${n + 1}" ovf:fileRef="file${n + 1}" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"${d.populatedSize !== undefined ? ` ovf:populatedSize="${d.populatedSize}"` : ''}/>\n`,
    )
    .join('');

  let id = 1;
  const items: string[] = [];
  items.push(
    item({
      allocationUnits: 'hertz * 10^6',
      description: 'Number of virtual CPUs',
      elementName: `${input.cpus} virtual CPU(s)`,
      instanceId: id++,
      resourceType: 3,
      virtualQuantity: input.cpus,
    }),
  );
  items.push(
    item({
      allocationUnits: 'byte * 2^20',
      description: 'Memory size',
      elementName: `${input.memoryMb}MB of memory`,
      instanceId: id++,
      resourceType: 4,
      virtualQuantity: input.memoryMb,
    }),
  );
  const controllerId = id++;
  items.push(
    item({
      address: '0',
      description: 'SCSI controller',
      elementName: 'SCSI controller 0',
      instanceId: controllerId,
      resourceSubType: scsi === 'pvscsi' ? 'VirtualSCSI' : 'lsilogic',
      resourceType: 6,
    }),
  );
  input.disks.forEach((_d, n) => {
    items.push(
      item({
        addressOnParent: String(n),
        elementName: `Hard disk ${n + 1}`,
        hostResource: `ovf:/disk/vmdisk${n + 1}`,
        instanceId: id++,
        parent: controllerId,
        resourceType: 17,
      }),
    );
  });
  // the CD-ROM the OVF environment ISO is attached to when a deployment picks the ISO transport
  // (IDE: every hardware version and guest has it; no AHCI controller needed)
  const ideId = id++;
  items.push(
    item({
      address: '0',
      description: 'IDE controller',
      elementName: 'IDE controller 0',
      instanceId: ideId,
      resourceType: 5,
    }),
  );
  items.push(
    item({
      optional: true,
      addressOnParent: '0',
      automaticAllocation: false,
      elementName: 'CD/DVD drive 1',
      instanceId: id++,
      parent: ideId,
      resourceSubType: 'vmware.cdrom.remotepassthrough',
      resourceType: 15,
    }),
  );
  items.push(
    item({
      addressOnParent: '7',
      automaticAllocation: true,
      connection: network,
      description: `VMXNET3 ethernet adapter on "${network}"`,
      elementName: 'Network adapter 1',
      instanceId: id++,
      resourceSubType: 'VmxNet3',
      resourceType: 10,
    }),
  );

  const props = input.properties
    .map((p) => {
      const attrs = [
        `ovf:key="${e(p.key)}"`,
        `ovf:type="${p.type}"`,
        p.qualifiers ? `ovf:qualifiers="${e(p.qualifiers)}"` : '',
        'ovf:userConfigurable="true"',
        `ovf:value="${e(p.defaultValue ?? '')}"`,
        p.password ? 'ovf:password="true"' : '',
      ]
        .filter(Boolean)
        .join(' ');
      return `      <Property ${attrs}>\n        <Label>${e(p.label)}</Label>\n        <Description>${e(p.description)}</Description>\n      </Property>\n`;
    })
    .join('');

  const opt = (tag: string, v: string | undefined) => (v ? `      <${tag}>${e(v)}</${tag}>\n` : '');

  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by drydock ova pack -->
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
${files}  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
${disks}  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="${e(network)}">
      <Description>The network the appliance is reached on</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="${e(input.name)}">
    <Info>A virtual machine</Info>
    <Name>${e(input.name)}</Name>
    <OperatingSystemSection ovf:id="${GUEST_OS.cimId}" ovf:version="${GUEST_OS.version}" vmw:osType="${GUEST_OS.vmwOsType}">
      <Info>The kind of installed guest operating system</Info>
      <Description>${GUEST_OS.description}</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection ovf:transport="iso com.vmware.guestInfo">
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${e(input.name)}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-${vmx}</vssd:VirtualSystemType>
        <!-- ${vmx === VMX_VERSION ? 'vmx-14 (ESXi 6.7+): the oldest version with every device used here (VMXNET3, PVSCSI, EFI secure boot), so older hosts are not refused for nothing' : 'virtual hardware version chosen by the packer'} -->
      </System>
${items.join('')}      <vmw:Config ovf:required="false" vmw:key="tools.syncTimeWithHost" vmw:value="false"/>
      <vmw:ExtraConfig ovf:required="false" vmw:key="disk.enableUUID" vmw:value="TRUE"/>
    </VirtualHardwareSection>
    <ProductSection ovf:required="false">
      <Info>Settings applied by the appliance at first boot</Info>
${opt('Product', product.name ?? input.name)}${opt('Vendor', product.vendor)}${opt('Version', product.version)}${opt('FullVersion', product.fullVersion)}${opt('ProductUrl', product.url)}      <Category>First boot</Category>
${props}    </ProductSection>
  </VirtualSystem>
</Envelope>
`;
}
