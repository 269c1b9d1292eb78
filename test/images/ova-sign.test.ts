// Signed OVAs: `drydock ova pack --sign-key --sign-cert` writes the .cert entry DSP0243 defines,
// `openssl` (the independent checker) verifies its signature over the .mf and the certificate's
// chain, and `drydock ova verify` checks order, digests, signature and chain with typed errors.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrydockError } from '../../core/index.ts';
import {
  buildImage,
  loadSigner,
  packOva,
  readOvaEntries,
  ustarHeader,
  verifyOva,
} from '../../images/index.ts';

let dir: string;
let root: string;
let data: string;
let signed: string;
const pki: Record<string, string> = {};

function tool(name: string): void {
  const r = spawnSync('which', [name]);
  if (r.status !== 0)
    throw new Error(`${name} is not installed: run scripts/setup-debian.sh (Debian package ${name})`);
}

function openssl(args: string[], opts: { cwd?: string } = {}): string {
  return execFileSync('openssl', args, { encoding: 'utf8', cwd: opts.cwd ?? dir, stdio: 'pipe' });
}

/** The tar entries of an OVA, by our own reader (GNU tar agrees in the first test). */
async function entries(path: string) {
  const { open } = await import('node:fs/promises');
  const fh = await open(path, 'r');
  try {
    return await readOvaEntries(fh, (await fh.stat()).size);
  } finally {
    await fh.close();
  }
}

function entryBytes(path: string, e: { offset: number; size: number }): Buffer {
  return readFileSync(path).subarray(e.offset, e.offset + e.size);
}

/** Writes a ustar archive with the given entries, in the given order. */
function writeTar(path: string, files: { name: string; body: Buffer }[]): void {
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(
      ustarHeader(f.name, f.body.length, 0),
      f.body,
      Buffer.alloc((512 - (f.body.length % 512)) % 512),
    );
  }
  parts.push(Buffer.alloc(1024));
  writeFileSync(path, Buffer.concat(parts));
}

async function refusedWith(p: Promise<unknown>, code: string): Promise<DrydockError> {
  const e = await p.catch((x) => x);
  expect(e).toBeInstanceOf(DrydockError);
  expect((e as DrydockError).code).toBe(code);
  return e as DrydockError;
}

beforeAll(async () => {
  tool('openssl');
  tool('qemu-img');
  tool('mke2fs');
  dir = mkdtempSync(join(tmpdir(), 'drydock-ova-sign-'));
  root = join(dir, 'root.raw');
  execFileSync('truncate', ['-s', '16M', root]);
  execFileSync('mke2fs', ['-q', '-t', 'ext4', '-d', 'images/ova', root]);
  data = join(dir, 'data.raw');
  execFileSync('truncate', ['-s', '8M', data]);

  // a CA, an intermediate and a signer, made by openssl (not by the code under test)
  writeFileSync(
    join(dir, 'ca.ext'),
    'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n',
  );
  writeFileSync(
    join(dir, 'leaf.ext'),
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n',
  );
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:3072',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '30',
    '-subj',
    '/CN=Drydock Test Root CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl([
    'req',
    '-newkey',
    'rsa:3072',
    '-nodes',
    '-keyout',
    'int.key',
    '-out',
    'int.csr',
    '-subj',
    '/CN=Drydock Test Intermediate',
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    'int.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '20',
    '-extfile',
    'ca.ext',
    '-out',
    'int.pem',
  ]);
  openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'sign.key',
    '-out',
    'sign.csr',
    '-subj',
    '/CN=Example Vendor OVA signing/O=Example Vendor',
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    'sign.csr',
    '-CA',
    'int.pem',
    '-CAkey',
    'int.key',
    '-CAcreateserial',
    '-days',
    '10',
    '-extfile',
    'leaf.ext',
    '-out',
    'sign.pem',
  ]);
  writeFileSync(
    join(dir, 'chain.pem'),
    readFileSync(join(dir, 'sign.pem'), 'utf8') + readFileSync(join(dir, 'int.pem'), 'utf8'),
  );
  // another CA the OVA does not chain to, an EC key, and a certificate that is not the key's
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'other-ca.key',
    '-out',
    'other-ca.pem',
    '-days',
    '30',
    '-subj',
    '/CN=Some Other CA',
  ]);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ec.key']);
  openssl(['req', '-x509', '-key', 'ec.key', '-out', 'ec.pem', '-days', '5', '-subj', '/CN=EC signer']);
  for (const n of [
    'ca.pem',
    'int.pem',
    'sign.key',
    'sign.pem',
    'chain.pem',
    'other-ca.pem',
    'ec.key',
    'ec.pem',
  ])
    pki[n] = join(dir, n);

  signed = join(dir, 'signed.ova');
  // through the CLI: the same packOva that `drydock build ova --sign-key --sign-cert` calls
  const r = spawnSync(
    'node',
    [
      'bin/drydock.js',
      'ova',
      'pack',
      '--disk',
      root,
      data,
      '--out',
      signed,
      '--name',
      'drydock-demo',
      '--cpus',
      '2',
      '--memory-mb',
      '2048',
      '--sign-key',
      pki['sign.key']!,
      '--sign-cert',
      pki['chain.pem']!,
      '--json',
    ],
    { encoding: 'utf8' },
  );
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ ok: true, signed: true });
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('signed OVA', () => {
  it('puts the .cert right after the .mf, in the form DSP0243 gives; openssl verifies the signature and the chain', async () => {
    const es = await entries(signed);
    expect(es.map((e) => e.name)).toEqual([
      'drydock-demo.ovf',
      'drydock-demo.mf',
      'drydock-demo.cert',
      'drydock-demo-disk1.vmdk',
      'drydock-demo-disk2.vmdk',
    ]);
    expect(execFileSync('tar', ['tf', signed], { encoding: 'utf8' }).trim().split('\n')).toEqual(
      es.map((e) => e.name),
    );
    const cert = entryBytes(signed, es[2]!).toString('utf8');
    const [first, ...rest] = cert.split('\n');
    // RSA-2048: 256 signature bytes, 512 hex digits
    expect(first).toMatch(/^SHA256\(drydock-demo\.mf\)= [0-9a-f]{512}$/);
    const pem = rest.join('\n');
    expect(pem.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
    expect(pem.trim()).toBe(readFileSync(pki['chain.pem']!, 'utf8').trim());
    // the manifest does not list the certificate (it is signed by it)
    const mf = entryBytes(signed, es[1]!);
    expect(mf.toString('utf8')).not.toContain('.cert');

    // openssl, knowing nothing of our code: signature over the .mf bytes with the leaf's key
    writeFileSync(join(dir, 'x.mf'), mf);
    writeFileSync(join(dir, 'x.sig'), Buffer.from(first!.split('= ')[1]!, 'hex'));
    writeFileSync(join(dir, 'x.leaf.pem'), pem);
    writeFileSync(join(dir, 'x.pub.pem'), openssl(['x509', '-in', 'x.leaf.pem', '-pubkey', '-noout']));
    expect(openssl(['dgst', '-sha256', '-verify', 'x.pub.pem', '-signature', 'x.sig', 'x.mf']).trim()).toBe(
      'Verified OK',
    );
    // and the chain: leaf → intermediate (in the .cert) → root CA
    writeFileSync(join(dir, 'x.int.pem'), pem.slice(pem.indexOf('-----BEGIN CERTIFICATE-----', 10)));
    expect(
      openssl(['verify', '-CAfile', pki['ca.pem']!, '-untrusted', 'x.int.pem', 'x.leaf.pem']).trim(),
    ).toBe('x.leaf.pem: OK');
    // a changed manifest no longer verifies (openssl says so, exit 1)
    writeFileSync(join(dir, 'x.mf'), Buffer.concat([mf, Buffer.from('\n')]));
    const bad = spawnSync(
      'openssl',
      ['dgst', '-sha256', '-verify', 'x.pub.pem', '-signature', 'x.sig', 'x.mf'],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('Verification failure');
  });

  it('drydock ova verify: order, digests, signature and the chain to the CA', async () => {
    const r = await verifyOva(signed, { ca: pki['ca.pem'] });
    expect(r).toMatchObject({ signed: true, trusted: true, manifest: { algorithm: 'sha256', files: 3 } });
    expect(r.signer).toContain('CN=Example Vendor OVA signing');
    // the CLI says the same in one line, and exits 0
    const cli = spawnSync('node', ['bin/drydock.js', 'ova', 'verify', signed, '--ca', pki['ca.pem']!], {
      encoding: 'utf8',
    });
    expect(cli.status).toBe(0);
    expect(cli.stdout.trim()).toMatch(
      /order ok, 3 digests match \(sha256\), signed by .*Example Vendor OVA signing.*, chains to the CA$/,
    );
    // without --ca the signature is still checked, the chain is not
    expect(await verifyOva(signed)).toMatchObject({ signed: true, trusted: false });
    // a CA it does not chain to: OVA_CERT_UNTRUSTED, exit 1
    await refusedWith(verifyOva(signed, { ca: pki['other-ca.pem'] }), 'OVA_CERT_UNTRUSTED');
    const cli2 = spawnSync(
      'node',
      ['bin/drydock.js', 'ova', 'verify', signed, '--ca', pki['other-ca.pem']!],
      { encoding: 'utf8' },
    );
    expect(cli2.status).toBe(1);
    expect(cli2.stderr.trim()).toMatch(/^drydock: OVA_CERT_UNTRUSTED: /);
    // the signer certificate expired (a clock 30 days on)
    const later = Date.now() + 30 * 86400_000;
    await refusedWith(verifyOva(signed, { ca: pki['ca.pem'], now: () => later }), 'OVA_CERT_UNTRUSTED');
  });

  it('a flipped byte in a disk, a forged signature, a reordered or unsigned archive: each has its code', async () => {
    const es = await entries(signed);
    const buf = readFileSync(signed);

    const disk = Buffer.from(buf);
    disk[es[3]!.offset + 100] = disk[es[3]!.offset + 100]! ^ 0xff;
    writeFileSync(join(dir, 'disk-flip.ova'), disk);
    const e1 = await refusedWith(verifyOva(join(dir, 'disk-flip.ova')), 'OVA_MANIFEST_MISMATCH');
    expect(e1.message).toContain('drydock-demo-disk1.vmdk');

    // the manifest changed to match a changed disk: the digests agree, the signature does not
    const body = (i: number) => Buffer.from(buf.subarray(es[i]!.offset, es[i]!.offset + es[i]!.size));
    const forged = body(3);
    forged[100] = forged[100]! ^ 0xff;
    const { createHash } = await import('node:crypto');
    const mf = body(1)
      .toString('utf8')
      .replace(
        /(drydock-demo-disk1\.vmdk\)= )[0-9a-f]{64}/,
        `$1${createHash('sha256').update(forged).digest('hex')}`,
      );
    const files = [
      { name: es[0]!.name, body: body(0) },
      { name: es[1]!.name, body: Buffer.from(mf) },
      { name: es[2]!.name, body: body(2) },
      { name: es[3]!.name, body: forged },
      { name: es[4]!.name, body: body(4) },
    ];
    writeTar(join(dir, 'forged.ova'), files);
    await refusedWith(verifyOva(join(dir, 'forged.ova')), 'OVA_SIGNATURE_INVALID');

    // the original entries in a wrong order: the .mf first, or the .cert after the disks
    writeTar(
      join(dir, 'mf-first.ova'),
      [files[1]!, files[0]!, ...files.slice(2)].map((f, i) => (i === 0 ? { ...f, body: body(1) } : f)),
    );
    expect((await refusedWith(verifyOva(join(dir, 'mf-first.ova')), 'OVA_LAYOUT_INVALID')).message).toContain(
      'must come first',
    );
    const orig = [0, 1, 2, 3, 4].map((i) => ({ name: es[i]!.name, body: body(i) }));
    writeTar(join(dir, 'cert-last.ova'), [orig[0]!, orig[1]!, orig[3]!, orig[4]!, orig[2]!]);
    expect(
      (await refusedWith(verifyOva(join(dir, 'cert-last.ova')), 'OVA_LAYOUT_INVALID')).message,
    ).toContain('right after the .mf');
    // the same entries in the right order pass: the reader, not the bytes of our writer, decides
    writeTar(join(dir, 'rewritten.ova'), orig);
    expect(await verifyOva(join(dir, 'rewritten.ova'), { ca: pki['ca.pem'] })).toMatchObject({
      trusted: true,
    });

    // unsigned: fine alone, refused when a CA was asked for
    writeTar(join(dir, 'unsigned.ova'), [orig[0]!, orig[1]!, orig[3]!, orig[4]!]);
    expect(await verifyOva(join(dir, 'unsigned.ova'))).toMatchObject({ signed: false, trusted: false });
    await refusedWith(verifyOva(join(dir, 'unsigned.ova'), { ca: pki['ca.pem'] }), 'OVA_SIGNATURE_INVALID');
    // a disk the manifest does not list, and a file that is not a tar at all
    writeTar(join(dir, 'extra.ova'), [...orig, { name: 'extra.iso', body: Buffer.from('x') }]);
    expect((await refusedWith(verifyOva(join(dir, 'extra.ova')), 'OVA_MANIFEST_MISMATCH')).message).toContain(
      'extra.iso',
    );
    writeFileSync(join(dir, 'junk.ova'), Buffer.alloc(4096, 7));
    await refusedWith(verifyOva(join(dir, 'junk.ova')), 'OVA_LAYOUT_INVALID');
  });

  it('refuses signing material that vSphere would not accept, before a byte is written', async () => {
    await refusedWith(loadSigner(pki['ec.key']!, pki['ec.pem']!), 'USAGE');
    // a certificate that is not the key's
    expect((await refusedWith(loadSigner(pki['sign.key']!, pki['int.pem']!), 'USAGE')).message).toContain(
      'not for the key',
    );
    // an expired signer
    await refusedWith(
      loadSigner(pki['sign.key']!, pki['sign.pem']!, () => Date.now() + 30 * 86400_000),
      'USAGE',
    );
    await refusedWith(loadSigner(join(dir, 'nope.key'), pki['sign.pem']!), 'BUILD_INPUT_MISSING');
    // the CLI: one of the two flags alone is a usage error, and no OVA appears
    const out = join(dir, 'half.ova');
    const r = spawnSync(
      'node',
      ['bin/drydock.js', 'ova', 'pack', '--disk', root, '--out', out, '--sign-key', pki['sign.key']!],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe('drydock: USAGE: give --sign-key and --sign-cert together');
    await refusedWith(
      packOva({
        disks: [root],
        out,
        signer: await loadSigner(pki['sign.key']!, pki['sign.pem']!),
        name: 'bad name',
      }),
      'USAGE',
    );
    expect(spawnSync('ls', [out]).status).not.toBe(0);
  });
  it('drydock build ova takes the same flags and refuses bad signing material before it builds anything', async () => {
    const cache = join(dir, 'build-cache');
    const stages: string[] = [];
    const opts = {
      target: 'ova' as const,
      repo: process.cwd(),
      cacheDir: cache,
      distDir: dir,
      onStage: (s: string) => stages.push(s),
    };
    await refusedWith(buildImage({ ...opts, signKey: pki['ec.key']!, signCert: pki['ec.pem']! }), 'USAGE');
    await refusedWith(buildImage({ ...opts, signKey: pki['sign.key']! }), 'USAGE');
    await refusedWith(
      buildImage({ ...opts, target: 'raw', signKey: pki['sign.key']!, signCert: pki['sign.pem']! }),
      'USAGE',
    );
    expect(stages).toEqual([]);
    expect(spawnSync('ls', [cache]).status).not.toBe(0);
    const r = spawnSync(
      'node',
      [
        'bin/drydock.js',
        'build',
        'ova',
        '--sign-key',
        pki['ec.key']!,
        '--sign-cert',
        pki['ec.pem']!,
        '--cache',
        cache,
        '--dist',
        dir,
      ],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(
      /^drydock: USAGE: .*ec\.key is a ec key; vSphere verifies RSA signatures/,
    );
    expect(
      spawnSync('node', ['bin/drydock.js', 'build', 'ova', '--help'], { encoding: 'utf8' }).stdout,
    ).toMatch(/--sign-key <key\.pem>[\s\S]*--sign-cert <cert\.pem>/);
  });
});
