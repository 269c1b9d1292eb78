// The appliance's CloudFormation template and the stack commands that launch it.
export { type EventWatcher, formatEvent, watchStackEvents } from './events.ts';
export { quickCreateUrl, STACK_NAME_PATTERN } from './quick-create.ts';
export { renderTemplate, type TemplateFormat } from './render.ts';
export {
  checkStackName,
  deleteStack,
  describeStack,
  firstFailure,
  launchStack,
  parseParams,
  type StackIo,
  type StackResult,
  type StackStatusReport,
  stackStatus,
} from './stack.ts';
export {
  buildTemplate,
  CIDR_PATTERN,
  INSTANCE_TYPES,
  type Template,
  type TemplateOptions,
} from './template.ts';
