export * from './errors.ts';
export * from './file-lock.ts';
export * from './output.ts';
