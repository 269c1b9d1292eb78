// Side effects of first boot enter through these parameters, so tests run the real code on a box root.
import { type Exec, exec } from '../../core/exec.ts';

export type { Exec } from '../../core/exec.ts';

/** core's exec, bounded for first boot (growpart answers NOCHANGE with exit 1: callers read the code) */
export const defaultExec: Exec = (cmd, args, opts) =>
  exec(cmd, args, { timeoutMs: 120_000, maxStdoutBytes: 16 << 20, ...opts });

export type Log = (line: string) => void;
