// The appliance's CloudFormation template and the stack commands that launch it.
export { type EventWatcher, watchStackEvents } from './events.ts';
export { quickCreateUrl } from './quick-create.ts';
export { renderTemplate, type TemplateFormat } from './render.ts';
export {
  deleteStack,
  launchStack,
  parseParams,
  type StackIo,
  type StackResult,
  type StackStatusReport,
  stackStatus,
} from './stack.ts';
export { buildTemplate, INSTANCE_TYPES, type Template, type TemplateOptions } from './template.ts';
