// KVM when it really runs guest code, TCG otherwise. /dev/kvm can exist and open fine while guests
// never execute (as on these build machines), so the probe boots a 9-byte boot sector that writes
// "K" to the serial port, and KVM counts only if the "K" arrives.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec } from '../../core/index.ts';

export type Accelerator = 'kvm' | 'tcg';

export function probeSector(): Buffer {
  const b = Buffer.alloc(512);
  // mov dx,0x3f8; mov al,'K'; out dx,al; hlt; jmp $-1
  Buffer.from([0xba, 0xf8, 0x03, 0xb0, 0x4b, 0xee, 0xf4, 0xeb, 0xfd]).copy(b);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

export async function acceleratorWorks(accel: Accelerator, timeoutMs = 5000): Promise<boolean> {
  const dir = await mkdtemp(join(tmpdir(), 'drydock-accel-'));
  try {
    await writeFile(join(dir, 'probe.img'), probeSector());
    const probing = new AbortController();
    let ended = false;
    const done = exec(
      'qemu-system-x86_64',
      [
        '-nodefaults',
        '-accel',
        accel,
        '-display',
        'none',
        '-m',
        '16',
        '-serial',
        `file:${join(dir, 'out')}`,
        '-drive',
        `file=${join(dir, 'probe.img')},format=raw,if=ide`,
      ],
      { timeoutMs, signal: probing.signal },
    ).then(() => {
      ended = true;
    });
    const deadline = Date.now() + timeoutMs;
    let ok = false;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      if ((await readFile(join(dir, 'out'), 'utf8').catch(() => '')).includes('K')) {
        ok = true;
        break;
      }
      if (ended) break;
    }
    probing.abort();
    await done;
    return ok;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * DRYDOCK_ACCEL=kvm|tcg forces a choice; DRYDOCK_ACCEL=auto uses KVM if the probe runs on it.
 * The default is TCG: on these build machines the probe's boot sector does run under KVM when the
 * host is quiet, yet the Linux kernel then hangs right after GRUB — the probe cannot vouch for KVM.
 */
export async function chooseAccelerator(env: NodeJS.ProcessEnv = process.env): Promise<Accelerator> {
  const forced = env.DRYDOCK_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (forced === 'auto') return (await acceleratorWorks('kvm')) ? 'kvm' : 'tcg';
  return 'tcg';
}
