// Crash-safe file replacement for the drivers: the one implementation lives in core/durable.ts.
export { atomicWrite, syncPath as syncDir } from '../../core/durable.ts';
