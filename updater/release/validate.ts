import { FormatRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import semver from 'semver';
import { DrydockError } from '../../core/index.ts';
import { Release } from './schema.ts';

// TypeBox knows no formats by itself: without this, every createdAt fails "Unknown format".
if (!FormatRegistry.Has('date-time'))
  FormatRegistry.Set(
    'date-time',
    (v) =>
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) &&
      !Number.isNaN(Date.parse(v)),
  );

/** Parses and checks a release.json document; throws BUNDLE_RELEASE_INVALID naming the first problem. */
export function parseRelease(doc: unknown): Release {
  if (!Value.Check(Release, doc)) {
    const first = Value.Errors(Release, doc).First();
    throw new DrydockError(
      'BUNDLE_RELEASE_INVALID',
      `release.json: ${first?.path || '/'} ${first?.message ?? 'is invalid'}`,
    );
  }
  if (!semver.valid(doc.version))
    throw new DrydockError('BUNDLE_RELEASE_INVALID', `release.json: version "${doc.version}" is not semver`);
  if (semver.validRange(doc.upgradeFrom) === null)
    throw new DrydockError(
      'BUNDLE_RELEASE_INVALID',
      `release.json: upgradeFrom "${doc.upgradeFrom}" is not a semver range`,
    );
  return doc;
}
