// How the image pipeline runs external tools (qemu-img, mmdebstrap, packer, qemu): core's exec in
// its must-succeed form, injectable, so tests and benches drive the real code with the real tools,
// and failures map to TOOL_MISSING / TOOL_FAILED with the tool's own last words instead of a stack
// trace.
import { type Exec, exec, mustSucceed } from '../core/index.ts';

export type { Exec } from '../core/index.ts';

export const defaultExec: Exec = mustSucceed(exec);
