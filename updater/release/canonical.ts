// Two deterministic JSON forms.
//
// tufCanonicalJson is OLPC canonical JSON exactly as TUF signs it (and as @tufjs/canonical-json,
// python-tuf's securesystemslib and go-tuf's cjson write it): keys sorted, no whitespace, integers
// only, and in strings only `\` and `"` escaped; every other character, control characters included,
// is written as itself in UTF-8. Signatures and key IDs are computed over these bytes.
//
// canonicalJson is the form files are written in: the same sorted keys and no whitespace, but
// strings escaped as JSON requires, so every file stays valid JSON (a raw newline in release notes
// would make OLPC output unparseable by JSON readers). Parsing a canonicalJson file and applying
// tufCanonicalJson gives the signed bytes, so the two never disagree on what was signed.
function sortedEntries(value: Record<string, unknown>): [string, unknown][] {
  // sorted by UTF-16 code units, as Array.prototype.sort and @tufjs/canonical-json sort
  return Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new TypeError('non-finite number in canonical JSON');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = sortedEntries(value as Record<string, unknown>);
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

const olpcString = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export function tufCanonicalJson(value: unknown): string {
  if (typeof value === 'string') return olpcString(value);
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError(`canonical JSON holds integers only, got ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(tufCanonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = sortedEntries(value as Record<string, unknown>);
    return `{${entries.map(([k, v]) => `${olpcString(k)}:${tufCanonicalJson(v)}`).join(',')}}`;
  }
  throw new TypeError(`cannot write ${typeof value} as canonical JSON`);
}

/** The UTF-8 bytes TUF signs for a document's `signed` part. */
export function tufSignedBytes(signed: unknown): Buffer {
  return Buffer.from(tufCanonicalJson(signed), 'utf8');
}
