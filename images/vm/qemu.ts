// Boots an appliance disk in QEMU the way the boot test and the bench need: headless, serial console
// to a file, user-mode network with the HTTPS port forwarded to 127.0.0.1, optional OVF ISO.
// Every write goes to a temporary overlay (snapshot=on): the disks under test stay as built.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { exec } from '../../core/index.ts';
import type { Accelerator } from '../build/accel.ts';

export interface VmOptions {
  disks: { path: string; format: 'qcow2' | 'raw' | 'vmdk' }[];
  iso?: string;
  consoleLog: string;
  accel: Accelerator;
  memoryMb?: number;
  cpus?: number;
  /** guest port 443 is forwarded to 127.0.0.1:<httpsPort> */
  httpsPort: number;
  firmware?: 'bios' | 'uefi';
}

export interface Vm {
  httpsPort: number;
  console(): Promise<string>;
  /** resolves with the console text once `re` matches it, rejects after timeoutMs */
  waitConsole(re: RegExp, timeoutMs: number): Promise<string>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function qemuArgs(o: VmOptions): string[] {
  const args = [
    '-machine',
    `q35,accel=${o.accel}`,
    '-m',
    String(o.memoryMb ?? 2048),
    '-smp',
    String(o.cpus ?? 2),
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    `file:${o.consoleLog}`,
    '-netdev',
    `user,id=n0,hostfwd=tcp:127.0.0.1:${o.httpsPort}-:443`,
    '-device',
    'virtio-net-pci,netdev=n0',
  ];
  if (o.firmware === 'uefi') args.push('-bios', '/usr/share/ovmf/OVMF.fd');
  for (const d of o.disks) args.push('-drive', `file=${d.path},format=${d.format},if=virtio,snapshot=on`);
  if (o.iso) args.push('-drive', `file=${o.iso},media=cdrom,readonly=on`);
  return args;
}

export function bootVm(o: VmOptions): Vm {
  // stop() aborts: SIGTERM, then SIGKILL 5 s later (core/exec.ts)
  const stopping = new AbortController();
  let exited: string | null = null;
  const done = exec('qemu-system-x86_64', qemuArgs(o), { signal: stopping.signal }).then((r) => {
    exited = `QEMU exited (${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`;
  });
  const read = () => readFile(o.consoleLog, 'utf8').catch(() => '');
  return {
    httpsPort: o.httpsPort,
    console: read,
    async waitConsole(re, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const text = await read();
        if (re.test(text)) return text;
        if (exited) throw new Error(exited);
        if (Date.now() > deadline) throw new Error(`console did not show ${re} within ${timeoutMs / 1000} s`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    },
    async stop() {
      stopping.abort();
      await done;
    },
  };
}
