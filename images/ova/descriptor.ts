// The OVF 1.1 descriptor (DMTF DSP0243 / schema DSP8023 1.1.1) for one virtual machine, shaped the
// way vSphere expects it: vmx hardware version, LSI Logic or PVSCSI controller, VMXNET3 adapter,
// streamOptimized VMDKs, guestInfo transport for the vApp properties, disk.enableUUID.
import { DrydockError } from '../../core/index.ts';
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
  /** vmx-14 = ESXi 6.7 and later; the lowest that has what we use (VMXNET3, PVSCSI, EFI) */
  vmxVersion?: number;
  scsi?: 'lsilogic' | 'pvscsi';
  network?: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;

export function validateDescriptorInput(i: DescriptorInput): void {
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
    '      <Item>\n' +
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
  const vmx = input.vmxVersion ?? 14;
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
    <OperatingSystemSection ovf:id="96" vmw:osType="debian12_64Guest">
      <Info>The kind of installed guest operating system</Info>
      <Description>Debian GNU/Linux 13 (64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection ovf:transport="com.vmware.guestInfo">
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${e(input.name)}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-${vmx}</vssd:VirtualSystemType>
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
