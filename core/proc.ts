// One reader of /proc/<pid>/stat (proc(5)). The command name (field 2) may hold spaces and
// parentheses, so the fields are split after the last ")".
import { readFileSync } from 'node:fs';

export interface ProcStat {
  /** field 3: R, S, D, Z (zombie: exited, not yet reaped), T, ... */
  state: string;
  /** field 4 */
  ppid: number;
  /** fields 14 and 15, in clock ticks */
  utimeTicks: number;
  stimeTicks: number;
  /** field 22: start time in clock ticks since boot; with the pid it names one process */
  startTicks: number;
}

export function parseProcStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const f = text.slice(close + 2).split(' '); // f[0] is field 3
  if (f.length < 20) return null;
  return {
    state: f[0]!,
    ppid: Number(f[1]),
    utimeTicks: Number(f[11]),
    stimeTicks: Number(f[12]),
    startTicks: Number(f[19]),
  };
}

/** The process's stat, or null when it is gone (or /proc cannot be read). */
export function readProcStat(pid: number): ProcStat | null {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}
