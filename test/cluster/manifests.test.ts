import { describe, expect, it } from 'vitest';
import { parseObjects } from '../../updater/cluster/index.ts';

const m = (name: string, content: string) => ({ name, content });
describe('manifests: parsing', () => {
  it('refuses documents that cannot be applied or deleted by name', () => {
    expect(() => parseObjects(m('a.yaml', 'kind: ConfigMap\nmetadata: {name: x}\n'))).toThrow(
      /apiVersion, kind and metadata.name/,
    );
    expect(() =>
      parseObjects(m('a.yaml', 'apiVersion: v1\nkind: List\nmetadata: {name: l}\nitems: []\n')),
    ).toThrow(/List documents/);
    expect(() => parseObjects(m('a.yaml', 'a: [1,'))).toThrow(/manifest a.yaml/);
    expect(parseObjects(m('a.yaml', '---\n# only a comment\n---\n'))).toEqual([]);
  });
});
