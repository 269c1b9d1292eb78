// The template as a file: JSON, or YAML with the long-form intrinsic functions (`Fn::Sub:`), which
// CloudFormation reads the same as the short `!Sub` tags and any YAML tool can parse.
import { stringify } from 'yaml';
import { DrydockError } from '../core/index.ts';
import type { Template } from './template.ts';

export type TemplateFormat = 'json' | 'yaml';

export function renderTemplate(template: Template, format: TemplateFormat): string {
  if (format === 'json') return `${JSON.stringify(template, null, 2)}\n`;
  if (format === 'yaml') return stringify(template, { lineWidth: 0, aliasDuplicateObjects: false });
  throw new DrydockError('USAGE', `template format must be json or yaml, not ${String(format)}`);
}
