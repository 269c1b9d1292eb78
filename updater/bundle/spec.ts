// The release spec (YAML) a release engineer writes. Validated with TypeBox; every error names
// the file and line (yaml's LineCounter), and every path is resolved relative to the spec file.
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { type Static, Type as T } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import semver from 'semver';
import { type Document, isMap, LineCounter, parseDocument } from 'yaml';
import { DrydockError } from '../../core/index.ts';
import { Data, Health, Wave } from '../release/index.ts';

const HookSpec = T.Union([
  T.String({ minLength: 1 }),
  T.Object(
    {
      name: T.Optional(T.String({ minLength: 1 })),
      job: T.String({ minLength: 1 }),
      timeoutSeconds: T.Optional(T.Number({ minimum: 1 })),
    },
    { additionalProperties: false },
  ),
]);

const ImageSpec = T.Object(
  {
    ref: T.String({ minLength: 1, maxLength: 512 }),
    /** OCI image-layout folder or .tar archive; without it the image is pulled with skopeo */
    layout: T.Optional(T.String({ minLength: 1 })),
    /** org.opencontainers.image.ref.name inside the layout */
    tag: T.Optional(T.String({ minLength: 1 })),
    platform: T.Optional(T.String({ pattern: '^[a-z0-9]+/[a-z0-9]+$' })),
  },
  { additionalProperties: false },
);

export const ReleaseSpec = T.Object(
  {
    name: T.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
    version: T.String({ minLength: 1 }),
    channel: T.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$', default: 'stable' }),
    upgradeFrom: T.String({ minLength: 1 }),
    images: T.Array(ImageSpec, { default: [] }),
    manifests: T.Array(T.String({ minLength: 1 }), { minItems: 1 }),
    health: Health,
    hooks: T.Optional(
      T.Object(
        {
          backup: T.Optional(HookSpec),
          restore: T.Optional(HookSpec),
          preApply: T.Optional(T.Array(HookSpec)),
          postApply: T.Optional(T.Array(HookSpec)),
        },
        { additionalProperties: false },
      ),
    ),
    data: T.Optional(Data),
    waves: T.Optional(T.Array(Wave)),
    notes: T.Optional(T.String()),
    k3s: T.Optional(
      T.Object(
        { version: T.String({ pattern: '^v\\d+\\.\\d+\\.\\d+' }), binary: T.String({ minLength: 1 }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ReleaseSpec = Static<typeof ReleaseSpec>;

interface SpecFile {
  /** absolute path */
  path: string;
  /** "file:line" of the spec entry that named it */
  at: string;
}

export interface HookFile extends SpecFile {
  name: string;
  timeoutSeconds?: number;
}

export interface ParsedSpec {
  specPath: string;
  spec: ReleaseSpec;
  images: { ref: string; layout?: string; tag?: string; platform: string; at: string }[];
  manifests: (SpecFile & { name: string })[];
  hooks: { backup?: HookFile; restore?: HookFile; preApply: HookFile[]; postApply: HookFile[] };
  k3s?: SpecFile & { version: string };
  notes: string;
}

function locate(doc: Document, lc: LineCounter, path: (string | number)[]): number {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return lc.linePos(node.range[0]).line;
  }
  return 1;
}

function splitPath(p: string): (string | number)[] {
  return p
    .split('/')
    .filter(Boolean)
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isFile() ?? false;
}

export async function parseSpec(specPath: string): Promise<ParsedSpec> {
  const abs = resolve(specPath);
  let src: string;
  try {
    src = await readFile(abs, 'utf8');
  } catch {
    throw new DrydockError('SPEC_FILE_MISSING', `release spec ${specPath} cannot be read`);
  }
  const lc = new LineCounter();
  const doc = parseDocument(src, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = lc.linePos(e.pos[0]).line;
    throw new DrydockError('SPEC_INVALID', `${specPath}:${line}: ${e.message.split('\n')[0]}`);
  }
  if (!isMap(doc.contents))
    throw new DrydockError('SPEC_INVALID', `${specPath}:1: a release spec is a YAML mapping`);
  const at = (path: (string | number)[]) => `${specPath}:${locate(doc, lc, path)}`;
  const raw = Value.Default(ReleaseSpec, Value.Clone(doc.toJS()));
  if (!Value.Check(ReleaseSpec, raw)) {
    const e = Value.Errors(ReleaseSpec, raw).First()!;
    throw new DrydockError('SPEC_INVALID', `${at(splitPath(e.path))}: ${e.path || '/'} ${e.message}`);
  }
  const spec = raw as ReleaseSpec;
  if (!semver.valid(spec.version) || semver.clean(spec.version) !== spec.version)
    throw new DrydockError(
      'SPEC_INVALID',
      `${at(['version'])}: version "${spec.version}" is not a semver version`,
    );
  if (semver.validRange(spec.upgradeFrom) === null)
    throw new DrydockError(
      'SPEC_INVALID',
      `${at(['upgradeFrom'])}: upgradeFrom "${spec.upgradeFrom}" is not a semver range`,
    );

  const dir = dirname(abs);
  const file = async (rel: string, path: (string | number)[], what: string): Promise<SpecFile> => {
    const p = resolve(dir, rel);
    if (!(await isFile(p)))
      throw new DrydockError('SPEC_FILE_MISSING', `${at(path)}: ${what} ${rel} does not exist`);
    return { path: p, at: at(path) };
  };

  const manifests: ParsedSpec['manifests'] = [];
  const names = new Set<string>();
  for (const [i, m] of spec.manifests.entries()) {
    const f = await file(m, ['manifests', i], 'manifest');
    const name = basename(m);
    if (!/^[a-z0-9][a-z0-9._-]{0,62}\.ya?ml$/.test(name))
      throw new DrydockError(
        'SPEC_INVALID',
        `${f.at}: manifest file name "${name}" must be lower-case and end in .yaml`,
      );
    if (names.has(name)) throw new DrydockError('SPEC_INVALID', `${f.at}: two manifests are named ${name}`);
    names.add(name);
    manifests.push({ ...f, name });
  }

  const hook = async (h: Static<typeof HookSpec>, path: (string | number)[]): Promise<HookFile> => {
    const job = typeof h === 'string' ? h : h.job;
    const f = await file(job, typeof h === 'string' ? path : [...path, 'job'], 'hook job');
    const name = (typeof h === 'string' ? undefined : h.name) ?? basename(job).replace(/\.ya?ml$/, '');
    const timeoutSeconds = typeof h === 'string' ? undefined : h.timeoutSeconds;
    return { ...f, name, ...(timeoutSeconds ? { timeoutSeconds } : {}) };
  };
  const hooks: ParsedSpec['hooks'] = { preApply: [], postApply: [] };
  const hs = spec.hooks ?? {};
  if (hs.backup) hooks.backup = await hook(hs.backup, ['hooks', 'backup']);
  if (hs.restore) hooks.restore = await hook(hs.restore, ['hooks', 'restore']);
  for (const [i, h] of (hs.preApply ?? []).entries())
    hooks.preApply.push(await hook(h, ['hooks', 'preApply', i]));
  for (const [i, h] of (hs.postApply ?? []).entries())
    hooks.postApply.push(await hook(h, ['hooks', 'postApply', i]));

  const images: ParsedSpec['images'] = [];
  for (const [i, img] of spec.images.entries()) {
    let layout: string | undefined;
    if (img.layout !== undefined) {
      layout = resolve(dir, img.layout);
      if (!(await stat(layout).catch(() => null)))
        throw new DrydockError(
          'SPEC_FILE_MISSING',
          `${at(['images', i, 'layout'])}: image layout ${img.layout} does not exist`,
        );
    }
    images.push({
      ref: img.ref,
      ...(layout ? { layout } : {}),
      ...(img.tag ? { tag: img.tag } : {}),
      platform: img.platform ?? 'linux/amd64',
      at: at(['images', i]),
    });
  }

  let k3s: ParsedSpec['k3s'];
  if (spec.k3s)
    k3s = { ...(await file(spec.k3s.binary, ['k3s', 'binary'], 'k3s binary')), version: spec.k3s.version };

  // notes: a Markdown file when it names one, else inline text
  let notes = spec.notes ?? '';
  if (notes && !notes.includes('\n') && /\.(md|markdown|txt)$/i.test(notes.trim())) {
    const f = await file(notes.trim(), ['notes'], 'notes file');
    notes = await readFile(f.path, 'utf8');
  }

  return { specPath: abs, spec, images, manifests, hooks, ...(k3s ? { k3s } : {}), notes };
}
