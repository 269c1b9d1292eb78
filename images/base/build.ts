// Base OS → bootable golden disk, cached under the cache dir by the hash of its inputs.
// Runs as root (mmdebstrap --mode=root, chroot). Disk tools (sfdisk, mkfs.fat, mtools,
// grub-mkimage) come from the image's own tree through chroot, so the build host needs only
// mmdebstrap, e2fsprogs and qemu-img.
import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DrydockError } from '../../core/index.ts';
import { defaultExec, type Exec } from '../exec.ts';
import { configureRootfs, DATA_LABEL, type Ids } from './configure.ts';
import { BIOS_MODULES, EFI_MODULES, earlyConfig, patchCore, patchMbr, SECTOR } from './grub.ts';
import { diskLayout, sfdiskScript } from './layout.ts';
import { type BaseSpec, baseKey, DEFAULT_BASE_SPEC } from './spec.ts';

export interface BaseImage {
  key: string;
  dir: string;
  /** the bootable golden disk (qcow2): GPT, BIOS boot + ESP + root */
  disk: string;
  /** the empty data disk (qcow2, ext4 labelled drydock-data) */
  dataDisk: string;
  /** private key of the build user (removed from the image at seal) */
  sshKey: string;
  buildUser: string;
  rootUuid: string;
  cached: boolean;
  /** seconds per stage when built now */
  stages: Record<string, number>;
}

export interface BaseBuildOptions {
  cacheDir: string;
  spec?: BaseSpec;
  exec?: Exec;
  onStage?: (stage: string) => void;
  onLine?: (line: string) => void;
  clock?: () => number;
}

interface Stamp {
  key: string;
  rootUuid: string;
  buildUser: string;
  spec: BaseSpec;
  builtAt: string;
}

export async function buildBase(opts: BaseBuildOptions): Promise<BaseImage> {
  const spec = opts.spec ?? DEFAULT_BASE_SPEC;
  const exec = opts.exec ?? defaultExec;
  const clock = opts.clock ?? Date.now;
  const key = baseKey(spec);
  const dir = join(opts.cacheDir, `base-${key}`);
  const result = (stamp: Stamp, cached: boolean, stages: Record<string, number>): BaseImage => ({
    key,
    dir,
    disk: join(dir, 'disk.qcow2'),
    dataDisk: join(dir, 'data.qcow2'),
    sshKey: join(dir, 'build_key'),
    buildUser: stamp.buildUser,
    rootUuid: stamp.rootUuid,
    cached,
    stages,
  });
  try {
    const stamp = JSON.parse(await readFile(join(dir, 'base.json'), 'utf8')) as Stamp;
    return result(stamp, true, {});
  } catch {
    // not cached yet
  }
  if (process.getuid?.() !== 0)
    throw new DrydockError('TOOL_FAILED', 'building the base OS needs root (mmdebstrap --mode=root, chroot)');

  await mkdir(opts.cacheDir, { recursive: true });
  const work = await mkdtemp(join(opts.cacheDir, '.base-tmp-'));
  const stages: Record<string, number> = {};
  const stage = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    opts.onStage?.(name);
    const t0 = clock();
    const r = await fn();
    stages[name] = (clock() - t0) / 1000;
    return r;
  };
  const chroot = (args: string[], input?: string) =>
    exec('chroot', [rootfs, ...args], { input, onLine: opts.onLine });
  const rootfs = join(work, 'rootfs');
  const out = join(work, 'out');
  try {
    await mkdir(out);
    await stage('mmdebstrap', () =>
      exec(
        'mmdebstrap',
        [
          '--mode=root',
          '--variant=apt',
          '--aptopt=APT::Install-Recommends "false"',
          '--aptopt=Acquire::Retries "3"',
          '--dpkgopt=path-exclude=/usr/share/man/*',
          '--dpkgopt=path-exclude=/usr/share/locale/*',
          '--dpkgopt=path-exclude=/usr/share/doc/*',
          '--dpkgopt=path-include=/usr/share/doc/*/copyright',
          `--include=${spec.packages.join(',')}`,
          spec.suite,
          rootfs,
          spec.mirror,
        ],
        { onLine: opts.onLine },
      ),
    );

    const ids: Ids = {
      rootUuid: randomUUID(),
      rootPartUuid: randomUUID(),
      espVolumeId: randomBytes(4).toString('hex'),
    };
    const layout = diskLayout(spec);
    const b = join(rootfs, 'tmp/drydock-build');
    await mkdir(b, { recursive: true });

    await stage('configure', async () => {
      await chroot([
        'ssh-keygen',
        '-q',
        '-t',
        'ed25519',
        '-N',
        '',
        '-C',
        spec.buildUser,
        '-f',
        '/tmp/drydock-build/build_key',
      ]);
      await configureRootfs(exec, rootfs, spec, ids, await readFile(join(b, 'build_key.pub'), 'utf8'));
    });

    await stage('bootloader', async () => {
      await writeFile(join(b, 'early.cfg'), earlyConfig(ids.rootUuid));
      const mk = (format: string, outFile: string, modules: string[]) =>
        chroot([
          'grub-mkimage',
          '-O',
          format,
          '-o',
          outFile,
          '-c',
          '/tmp/drydock-build/early.cfg',
          '-p',
          '/boot/grub',
          ...modules,
        ]);
      await mk('i386-pc', '/tmp/drydock-build/core.img', BIOS_MODULES);
      await mk('x86_64-efi', '/tmp/drydock-build/BOOTX64.EFI', EFI_MODULES);
      const disk = await open(join(b, 'disk.raw'), 'w');
      await disk.truncate(layout.totalSectors * SECTOR);
      await disk.close();
      await chroot(
        ['sfdisk', '--quiet', '--no-reread', '--no-tell-kernel', '/tmp/drydock-build/disk.raw'],
        sfdiskScript(layout, ids.rootPartUuid),
      );
      const espKiB = (layout.esp.size * SECTOR) / 1024;
      await chroot([
        'mkfs.fat',
        '-F',
        '32',
        '-s',
        '1',
        '-n',
        'EFI',
        '-i',
        ids.espVolumeId,
        '-C',
        '/tmp/drydock-build/esp.img',
        String(espKiB),
      ]);
      await chroot(['mmd', '-i', '/tmp/drydock-build/esp.img', '::/EFI', '::/EFI/BOOT']);
      await chroot([
        'mcopy',
        '-i',
        '/tmp/drydock-build/esp.img',
        '/tmp/drydock-build/BOOTX64.EFI',
        '::/EFI/BOOT/BOOTX64.EFI',
      ]);
      await writeFile(join(b, 'boot.img'), await readFile(join(rootfs, 'usr/lib/grub/i386-pc/boot.img')));
      // everything the disk needs is made: take it out of the tree before the tree becomes the root fs
      await rename(b, join(work, 'build'));
    });

    const w = join(work, 'build');
    await stage('filesystem', async () => {
      const rootBytes = layout.root.size * SECTOR;
      await exec(
        'mke2fs',
        [
          '-q',
          '-t',
          'ext4',
          '-L',
          'drydock-root',
          '-U',
          ids.rootUuid,
          '-E',
          `offset=${layout.root.start * SECTOR}`,
          '-d',
          rootfs,
          join(w, 'disk.raw'),
          `${rootBytes / 1024}k`,
        ],
        { onLine: opts.onLine },
      );
      const fh = await open(join(w, 'disk.raw'), 'r+');
      try {
        if ((await fh.stat()).size !== layout.totalSectors * SECTOR)
          throw new DrydockError('INTERNAL', 'mke2fs changed the disk size');
        let pos = layout.esp.start * SECTOR;
        for await (const chunk of createReadStream(join(w, 'esp.img'), {
          highWaterMark: 1 << 20,
        }) as AsyncIterable<Buffer>) {
          await fh.write(chunk, 0, chunk.length, pos);
          pos += chunk.length;
        }
        const core = patchCore(await readFile(join(w, 'core.img')), layout.bios.start);
        if (core.length > layout.bios.size * SECTOR)
          throw new DrydockError('INTERNAL', 'core.img does not fit the BIOS boot partition');
        await fh.write(core, 0, core.length, layout.bios.start * SECTOR);
        const mbr = Buffer.alloc(SECTOR);
        await fh.read(mbr, 0, SECTOR, 0);
        const patched = patchMbr(mbr, await readFile(join(w, 'boot.img')), layout.bios.start);
        await fh.write(patched, 0, SECTOR, 0);
      } finally {
        await fh.close();
      }
      const data = await open(join(w, 'data.raw'), 'w');
      await data.truncate(spec.dataSizeMiB * 1024 * 1024);
      await data.close();
      await exec('mke2fs', ['-q', '-t', 'ext4', '-m', '0', '-L', DATA_LABEL, join(w, 'data.raw')]);
    });

    await stage('convert', async () => {
      for (const disk of ['disk', 'data'])
        await exec('qemu-img', [
          'convert',
          '-f',
          'raw',
          '-O',
          'qcow2',
          join(w, `${disk}.raw`),
          join(out, `${disk}.qcow2`),
        ]);
      await rename(join(w, 'build_key'), join(out, 'build_key'));
      await rename(join(w, 'build_key.pub'), join(out, 'build_key.pub'));
    });

    const stamp: Stamp = {
      key,
      rootUuid: ids.rootUuid,
      buildUser: spec.buildUser,
      spec,
      builtAt: new Date(clock()).toISOString(),
    };
    await writeFile(join(out, 'base.json'), `${JSON.stringify({ ...stamp, stages }, null, 2)}\n`);
    try {
      await rename(out, dir);
    } catch (err) {
      // another build of the same key won the race: use theirs
      if (!(await stat(join(dir, 'base.json')).catch(() => null))) throw err;
    }
    return result(stamp, false, stages);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
