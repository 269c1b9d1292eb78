// Side effects of first boot enter through these parameters, so tests run the real code on a box root.
import { exec } from '../../core/exec.ts';

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** 127 when the tool is not installed */
  exitCode: number;
}

/** Runs a tool; never throws for a non-zero exit (growpart answers NOCHANGE with 1). */
export type Exec = (cmd: string, args: string[]) => Promise<ExecResult>;

/** core's exec (one implementation); first boot names the exit code `exitCode` */
export const defaultExec: Exec = async (cmd, args) => {
  const r = await exec(cmd, args, { timeoutMs: 120_000, maxStdoutBytes: 16 << 20 });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.code };
};

export type Log = (line: string) => void;
