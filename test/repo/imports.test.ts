// The import graph of the tracked sources, read as text: production code (everything but test/,
// examples/ and bench/) never imports examples/ or test/, and no module imports itself through
// others (no cycles; the same answer as `npx madge --circular --extensions ts,tsx .`).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '..', '..');
const NOT_PRODUCTION = /^(test|examples|bench)\//;

/** Relative imports of a module: static, re-exports, type-only and literal dynamic ones. */
function importsOf(text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1]!);
  return out;
}

/** The cycles of a graph, each once, as the list of its modules starting at the smallest. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found = new Map<string, string[]>();
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (n: string) => {
    state.set(n, 'open');
    path.push(n);
    for (const d of graph.get(n) ?? []) {
      if (state.get(d) === 'open') {
        const loop = path.slice(path.indexOf(d));
        const i = loop.indexOf([...loop].sort()[0]!);
        const key = [...loop.slice(i), ...loop.slice(0, i)];
        found.set(key.join(' > '), key);
      } else if (!state.has(d)) visit(d);
    }
    path.pop();
    state.set(n, 'done');
  };
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n);
  return [...found.values()];
}

function sourceGraph(): Map<string, string[]> {
  const files = execFileSync('git', ['ls-files', '-z', '--', '*.ts', '*.tsx'], {
    cwd: REPO,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f && existsSync(join(REPO, f)));
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const deps = importsOf(readFileSync(join(REPO, f), 'utf8')).map((s) =>
      relative(REPO, resolve(REPO, dirname(f), s)),
    );
    graph.set(f, deps);
  }
  return graph;
}

describe('the import graph', () => {
  const graph = sourceGraph();

  it('reads imports and finds cycles (checked on a made-up graph)', () => {
    expect(
      importsOf(
        "import a from './a.ts';\nimport type { B } from '../b.ts';\nexport * from './c.ts';\nconst d = await import('./d.ts');\nimport './e.ts';\nimport x from 'node:fs';",
      ),
    ).toEqual(['./a.ts', '../b.ts', './c.ts', './d.ts', './e.ts']);
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', ['d']],
      ['e', ['a']],
    ]);
    expect(cycles(g)).toEqual([['a', 'b', 'c'], ['d']]);
    expect(graph.size).toBeGreaterThan(200);
  });

  it('production code imports neither examples/ nor test/', () => {
    const wrong: string[] = [];
    for (const [f, deps] of graph)
      if (!NOT_PRODUCTION.test(f))
        for (const d of deps) if (/^(examples|test)\//.test(d)) wrong.push(`${f} imports ${d}`);
    expect(wrong).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(cycles(graph).map((c) => c.join(' -> '))).toEqual([]);
  });
});
