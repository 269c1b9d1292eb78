export * from './durable.ts';
export * from './errors.ts';
export * from './exec.ts';
export * from './file-lock.ts';
export * from './output.ts';
export * from './proc.ts';
