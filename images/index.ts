// The golden-image pipeline: base OS disk, Packer templates, OVA writer.
export * from './base/index.ts';
export * from './build/index.ts';
export { defaultExec, type Exec } from './exec.ts';
export * from './ova/index.ts';
export * from './vm/index.ts';
