// The state machine table (updater/engine/machine.ts): its shape, that Records refuses a
// transition the table lacks, and that docs/architecture.md shows the diagram of this very table.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { DrydockError } from '../../core/index.ts';
import { BEGIN, DOC, END, machineSection, withSection } from '../../scripts/gen-machine-doc.ts';
import { migrate, openDatabase } from '../../updater/engine/index.ts';
import {
  ACTIVE_STATES,
  canTransition,
  MACHINE,
  RESTING_STATES,
  STATES,
  transitions,
  type UpdateState,
} from '../../updater/engine/machine.ts';
import { Records } from '../../updater/engine/records.ts';
import { ENGINE_MIGRATIONS } from '../../updater/engine/schema.ts';

describe('the table', () => {
  test('every state has an entry and every edge ends in a state', () => {
    expect(Object.keys(MACHINE).sort()).toEqual([...STATES].sort());
    for (const t of transitions()) expect(STATES).toContain(t.to);
  });

  test('every state is reachable from idle, and every active state leads to a resting one', () => {
    const seen = new Set<UpdateState>(['idle']);
    const queue: UpdateState[] = ['idle'];
    while (queue.length) {
      const s = queue.shift()!;
      for (const to of Object.keys(MACHINE[s].to) as UpdateState[])
        if (!seen.has(to)) {
          seen.add(to);
          queue.push(to);
        }
    }
    expect([...seen].sort()).toEqual([...STATES].sort());
    for (const s of ACTIVE_STATES) {
      // within active states only, walking on must reach a resting state
      const reach = new Set<UpdateState>([s]);
      for (const x of reach) for (const to of Object.keys(MACHINE[x].to) as UpdateState[]) reach.add(to);
      expect(
        [...reach].some((x) => RESTING_STATES.includes(x)),
        s,
      ).toBe(true);
    }
  });

  test('the active states are the ones an update holds the lock in', () => {
    expect([...ACTIVE_STATES].sort()).toEqual(
      ['applying', 'downloading', 'rolling-back', 'snapshotting', 'verifying-health'].sort(),
    );
    expect(RESTING_STATES.length + ACTIVE_STATES.size).toBe(STATES.length);
  });

  test('no shortcut around the health gate or the snapshot', () => {
    expect(canTransition('staged', 'committed')).toBe(false);
    expect(canTransition('applying', 'committed')).toBe(false);
    expect(canTransition('snapshotting', 'verifying-health')).toBe(false);
    expect(canTransition('committed', 'applying')).toBe(false);
  });
});

describe('Records.transition', () => {
  let dir: string;
  afterEach(() => rm(dir, { recursive: true, force: true }));

  test('records an edge of the table and refuses one that is not, writing nothing', async () => {
    dir = await mkdtemp(join(tmpdir(), 'drydock-machine-'));
    const db = openDatabase(dir);
    migrate(db, 'engine', ENGINE_MIGRATIONS);
    const rec = new Records(db);
    expect(rec.state().state).toBe('idle');
    expect(rec.transition({ state: 'downloading', target_version: '1.1.0' }).state).toBe('downloading');
    let also = false;
    const err = (() => {
      try {
        rec.transition({ state: 'snapshotting', target_version: '9.9.9' }, () => {
          also = true;
        });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DrydockError);
    expect((err as DrydockError).code).toBe('ILLEGAL_TRANSITION');
    expect((err as DrydockError).kind).toBe('internal');
    expect(also).toBe(false);
    expect(rec.state()).toMatchObject({ state: 'downloading', target_version: '1.1.0' });
    // a patch without a state (progress, ids) is not a transition
    expect(rec.transition({ step: 'verify' }).state).toBe('downloading');
    db.close();
  });
});

describe('docs/architecture.md', () => {
  test('shows the diagram generated from this table (npx tsx scripts/gen-machine-doc.ts)', async () => {
    const doc = await readFile(DOC, 'utf8');
    const b = doc.indexOf(BEGIN);
    const e = doc.indexOf(END);
    expect(b, 'the machine markers are missing').toBeGreaterThanOrEqual(0);
    expect(e).toBeGreaterThan(b);
    expect(doc.slice(b + BEGIN.length, e)).toBe(machineSection());
    for (const t of transitions())
      expect(doc).toContain(`${t.from.replace(/-/g, '_')} --> ${t.to.replace(/-/g, '_')}: ${t.why}`);
  });

  test('the check sees a stale section and rewrites only between the markers', () => {
    const stale = `# Title\n\nbefore\n\n${BEGIN}\nold diagram\n${END}\n\nafter\n`;
    const fresh = withSection(stale);
    expect(fresh).not.toBe(stale);
    expect(fresh.startsWith(`# Title\n\nbefore\n\n${BEGIN}`)).toBe(true);
    expect(fresh.endsWith(`${END}\n\nafter\n`)).toBe(true);
    expect(withSection(fresh)).toBe(fresh);
  });
});
