export * from './canonical.ts';
export * from './schema.ts';
export * from './validate.ts';
