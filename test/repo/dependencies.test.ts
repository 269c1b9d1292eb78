// The dependency lock against what package.json promises: every locked package runs on every Node
// version our `engines` admits (so `npm ci` never warns EBADENGINE on a supported Node), and the lock
// is in sync with package.json (what `npm ci` refuses otherwise).
import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8'));
const packages: Record<string, { version?: string; engines?: unknown }> = lock.packages;

/** The lowest Node version our range admits in each even (LTS) major line it reaches, up to 24. */
function lowestPerLine(range: string): string[] {
  const out: string[] = [];
  for (let major = 18; major <= 24; major += 2) {
    const low = semver.minVersion(
      new semver.Range(`${range}`).set
        .map((set) => set.map((c) => c.value).join(' '))
        .filter((set) => semver.intersects(set, `>=${major}.0.0 <${major + 1}.0.0`))
        .map((set) => `${set} >=${major}.0.0 <${major + 1}.0.0`)
        .join(' || ') || '<0.0.0',
    );
    if (low && semver.satisfies(low, range)) out.push(low.version);
  }
  return out;
}

describe('dependencies', () => {
  const ours: string = pkg.engines.node;

  it('our engines range admits the Node 20 line we run on', () => {
    expect(lowestPerLine(ours)[0]).toMatch(/^20\./);
    expect(lowestPerLine('^20.19.0 || >=22.12.0')).toEqual(['20.19.0', '22.12.0', '24.0.0']);
  });

  it("every locked package's engines.node is satisfied by the lowest Node of each line we admit", () => {
    const lows = lowestPerLine(ours);
    const refused: string[] = [];
    for (const [path, p] of Object.entries(packages)) {
      const e = p.engines as { node?: string } | string[] | undefined;
      const node = e && !Array.isArray(e) ? e.node : undefined;
      if (!path || !node) continue;
      for (const v of lows)
        if (!semver.satisfies(v, node)) refused.push(`${path}@${p.version} wants node ${node}, not ${v}`);
    }
    expect(refused).toEqual([]);
  });

  it('the lock is in sync with package.json (dependencies, engines)', () => {
    const root = packages[''] as Record<string, unknown>;
    expect(root.dependencies).toEqual(pkg.dependencies);
    expect(root.devDependencies).toEqual(pkg.devDependencies);
    expect(root.engines).toEqual(pkg.engines);
  });

  it("the lock holds every platform's optional binaries, so npm ci accepts it on any machine", () => {
    // npm ci refuses a lock that lacks the optional packages of other platforms (biome, rollup)
    for (const name of ['@biomejs/cli-darwin-arm64', '@biomejs/cli-win32-x64', '@rollup/rollup-darwin-arm64'])
      expect(Object.keys(packages), name).toContain(`node_modules/${name}`);
  });
});
