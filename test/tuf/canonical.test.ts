// The bytes we sign are TUF's canonical JSON exactly: byte for byte what @tufjs/canonical-json
// writes (python-tuf and go-tuf run against it in test/interop), for strings with control
// characters, quotes, backslashes and non-ASCII text; the file form stays valid JSON.
import { createHash, createPublicKey, verify } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { describe, expect, it } from 'vitest';
import { canonicalJson, tufCanonicalJson, tufSignedBytes } from '../../updater/release/index.ts';
import {
  generateSigningKey,
  newTargets,
  parseMetadata,
  serialize,
  signerFor,
} from '../../updater/tuf/index.ts';

const controls = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('') + '\u007f';
const strings = [
  controls,
  'line 1\nline 2\r\n\ttabbed\b\f',
  'quote " and backslash \\ and both \\"',
  'Grüße, naïve café, 日本語, Ελληνικά, עברית',
  'astral 🚢 \u{1F600} and separators \u2028 \u2029',
  'lone surrogate \ud800 and \udc00',
  '',
];
const doc = {
  z: strings,
  a: { [controls]: 1, 'ü-key': -0, '\n': [true, false, null], 'key "q"': 123456789012 },
  Ä: { nested: { deeper: strings.map((s, i) => ({ [`k${i}`]: s })) } },
  n: 0,
  big: 2 ** 53,
};

describe('tufCanonicalJson', () => {
  it('writes what @tufjs/canonical-json writes, byte for byte', () => {
    expect(Buffer.from(tufCanonicalJson(doc))).toEqual(Buffer.from(canonicalize(doc)));
    for (const s of strings) expect(tufCanonicalJson(s)).toBe(canonicalize(s));
  });

  it('leaves control characters as they are and escapes only quote and backslash', () => {
    expect(tufCanonicalJson('a\nb\u0001"\\')).toBe('"a\nb\u0001\\"\\\\"');
    // where the file form (valid JSON) differs
    expect(canonicalJson('a\nb\u0001')).toBe('"a\\nb\\u0001"');
    expect(tufCanonicalJson({ b: 1, a: 2, B: 3 })).toBe('{"B":3,"a":2,"b":1}');
  });

  it('refuses what canonical JSON cannot hold, as @tufjs/canonical-json does', () => {
    expect(() => tufCanonicalJson({ x: 1.5 })).toThrow(TypeError);
    expect(() => canonicalize({ x: 1.5 })).toThrow(TypeError);
    expect(() => tufCanonicalJson(Number.NaN)).toThrow(TypeError);
  });

  it('the file form parses back to the same value, and its canonical bytes are the same', () => {
    const file = canonicalJson(doc);
    expect(() => JSON.parse(file)).not.toThrow();
    // the lone surrogates become U+FFFD in UTF-8 either way, so compare as bytes
    expect(tufSignedBytes(JSON.parse(file))).toEqual(Buffer.from(canonicalize(doc)));
  });
});

describe('signatures are over the canonical bytes', () => {
  it('a targets file with such strings: the signature verifies over tufSignedBytes(signed), with node:crypto alone', () => {
    const k = generateSigningKey();
    const md = newTargets(1, '2099-01-01T00:00:00Z', {
      'dir/ü name\t.txt': {
        length: 1,
        sha256: 'a'.repeat(64),
        custom: { note: strings[1]!, all: controls, text: strings[3]! },
      },
    });
    md.sign(signerFor(k));
    const file = serialize(md);
    const parsed = JSON.parse(file.toString('utf8'));
    const bytes = tufSignedBytes(parsed.signed);
    const pub = createPublicKey(k.privateKey);
    const sig = Buffer.from(parsed.signatures[0].sig, 'hex');
    expect(verify(null, bytes, pub, sig)).toBe(true);
    // one character changed in a control-character string breaks it
    parsed.signed.targets['dir/ü name\t.txt'].custom.all = controls.replace('\u0007', '\u0008');
    expect(verify(null, tufSignedBytes(parsed.signed), pub, sig)).toBe(false);
    // and the file reads back through @tufjs/models with the signature intact
    const back = parseMetadata('targets', file, 'targets.json');
    expect(() => k.key.verifySignature(back)).not.toThrow();
  });

  it('key IDs are the sha256 of the key in canonical JSON', () => {
    const k = generateSigningKey();
    const body = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: k.key.keyVal.public } };
    expect(k.keyId).toBe(createHash('sha256').update(canonicalize(body)).digest('hex'));
  });
});
