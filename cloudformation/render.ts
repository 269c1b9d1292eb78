// The template as a file: JSON, or YAML with the long-form intrinsic functions (`Fn::Sub:`), which
// CloudFormation reads the same as the short `!Sub` tags and any YAML tool can parse.
import { Document, type Scalar } from 'yaml';
import { DrydockError } from '../core/index.ts';
import type { Template } from './template.ts';

export type TemplateFormat = 'json' | 'yaml';

export function renderTemplate(template: Template, format: TemplateFormat): string {
  if (format === 'json') return `${JSON.stringify(template, null, 2)}\n`;
  if (format === 'yaml') {
    const doc = new Document(template, { aliasDuplicateObjects: false });
    // quoted, so YAML 1.1 readers (PyYAML in cfn-lint and friends) see a string, not a date
    const version = doc.get('AWSTemplateFormatVersion', true) as Scalar | undefined;
    if (version) version.type = 'QUOTE_DOUBLE';
    return doc.toString({ lineWidth: 0 });
  }
  throw new DrydockError('USAGE', `template format must be json or yaml, not ${String(format)}`);
}
