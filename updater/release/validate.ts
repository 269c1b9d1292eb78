import { Value } from '@sinclair/typebox/value';
import semver from 'semver';
import { DrydockError } from '../../core/index.ts';
import { Release } from './schema.ts';

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
