// The golden-image pipeline: base OS disk, Packer templates, OVA writer.
export { defaultExec, type Exec, type ExecOptions } from './exec.ts';
export * from './ova/index.ts';
