// The upload journal lets an interrupted publish pick up where it stopped: which snapshot it was
// filling, which blocks EBS acknowledged (with their checksums, for the final aggregate), and the
// images registered or copied so far. Written atomically; a journal for a different disk is ignored.
import { randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { DrydockError } from '../../core/index.ts';

const JournalSchema = Type.Object({
  version: Type.Literal(1),
  disk: Type.Object({ size: Type.Integer({ minimum: 0 }), mtimeMs: Type.Number() }),
  region: Type.String(),
  name: Type.String(),
  snapshotId: Type.String(),
  clientToken: Type.String(),
  /** block index → base64 SHA256 of what EBS acknowledged for it */
  blocks: Type.Record(Type.String({ pattern: '^[0-9]+$' }), Type.String()),
  zeroBlocks: Type.Integer({ minimum: 0 }),
  completed: Type.Boolean(),
  imageId: Type.Optional(Type.String()),
  copies: Type.Record(Type.String(), Type.String()),
});
export type Journal = Static<typeof JournalSchema>;

export function newJournal(init: {
  disk: Journal['disk'];
  region: string;
  name: string;
  snapshotId: string;
  clientToken: string;
}): Journal {
  return { version: 1, ...init, blocks: {}, zeroBlocks: 0, completed: false, copies: {} };
}

export function newClientToken(): string {
  return randomUUID();
}

/** The journal at `path`, or null when there is none; a corrupt one is refused, not overwritten. */
export async function loadJournal(path: string): Promise<Journal | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new DrydockError('CONFIG_INVALID', `upload journal ${path} is not JSON; remove it to start over`);
  }
  if (!Value.Check(JournalSchema, data))
    throw new DrydockError('CONFIG_INVALID', `upload journal ${path} is malformed; remove it to start over`);
  return data;
}

// saves of one journal run one after the other, so a slower, older save never lands last
const chains = new Map<string, Promise<void>>();

export function saveJournal(path: string, journal: Journal): Promise<void> {
  const run = async () => {
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(journal)}\n`, { mode: 0o600 });
    await rename(tmp, path);
  };
  const next = (chains.get(path) ?? Promise.resolve()).then(run, run);
  chains.set(path, next);
  return next.finally(() => {
    if (chains.get(path) === next) chains.delete(path);
  });
}

/** Does the journal describe this very disk (same size and modification time)? */
export function journalMatches(
  journal: Journal,
  disk: Journal['disk'],
  region: string,
  name: string,
): boolean {
  return (
    journal.disk.size === disk.size &&
    journal.disk.mtimeMs === disk.mtimeMs &&
    journal.region === region &&
    journal.name === name
  );
}
