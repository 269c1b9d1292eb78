// The first-boot settings offered as vApp options in the OVF ProductSection, straight from the
// appliance's catalogue (appliance/firstboot/settings.ts): the same keys, labels,
// descriptions, qualifiers and password flags that first boot, the EC2 user data and the docs use.
// vSphere shows them in the deploy wizard and hands the values back through guestinfo.ovfEnv.
import { SETTINGS } from '../../appliance/index.ts';

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

export const FIRSTBOOT_PROPERTIES: readonly OvfProperty[] = SETTINGS.map((s) => ({
  key: s.key,
  label: s.label,
  description: s.description,
  type: s.type,
  qualifiers: s.qualifiers,
  password: s.password,
  defaultValue: s.default,
}));
