// What `drydock aws publish-ami` accepts, checked before any AWS call so bad input changes nothing.
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { DrydockError } from '../../core/index.ts';

const REGION_PATTERN = '^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$';
const BOOT_MODES = ['uefi-preferred', 'uefi', 'legacy-bios'] as const;
export type BootMode = (typeof BOOT_MODES)[number];

export const PublishInput = Type.Object({
  diskPath: Type.String({ minLength: 1 }),
  // EC2's rule for AMI names
  name: Type.String({ minLength: 3, maxLength: 128, pattern: "^[A-Za-z0-9()\\[\\]./'@_ -]+$" }),
  regions: Type.Array(Type.String({ pattern: REGION_PATTERN }), { minItems: 1, uniqueItems: true }),
  shareWith: Type.Array(Type.String({ pattern: '^[0-9]{12}$' }), { uniqueItems: true }),
  ssmParameter: Type.Optional(
    Type.String({ pattern: '^(/[A-Za-z0-9_.-]+)+$|^[A-Za-z0-9_.-]+$', maxLength: 1011 }),
  ),
  bootMode: Type.Union(BOOT_MODES.map((m) => Type.Literal(m))),
});
export type PublishInput = Static<typeof PublishInput>;

const FIELD_HINTS: Record<string, string> = {
  '/name': "the AMI name must be 3–128 characters of letters, digits, spaces and ( ) [ ] . / - ' @ _",
  '/regions': 'regions must be distinct AWS region names such as us-east-1',
  '/shareWith': 'accounts to share with must be distinct 12-digit AWS account ids',
  '/ssmParameter': 'the SSM parameter name must look like /drydock/ami (letters, digits, _ . - /)',
  '/bootMode': `the boot mode must be one of ${BOOT_MODES.join(', ')}`,
  '/diskPath': 'a raw disk image (--disk) is required',
};

export function checkPublishInput(input: unknown): PublishInput {
  if (Value.Check(PublishInput, input)) return input;
  const first = Value.Errors(PublishInput, input).First();
  const field = first ? `/${first.path.split('/')[1] ?? ''}` : '';
  throw new DrydockError('USAGE', FIELD_HINTS[field] ?? `invalid ${field}: ${first?.message ?? 'input'}`);
}
