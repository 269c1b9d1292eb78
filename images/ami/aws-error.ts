// Every failure the AWS SDK reports becomes one AWS_FAILED error naming the call, the service's
// error code and its message — never the request, which may carry credentials or a password.
import { DrydockError, isDrydockError } from '../../core/index.ts';

export function awsError(call: string, err: unknown): DrydockError {
  if (isDrydockError(err)) return err;
  const e = err as { name?: string; message?: string };
  const name = e?.name && e.name !== 'Error' ? `${e.name}: ` : '';
  return new DrydockError('AWS_FAILED', `${call} failed: ${name}${e?.message ?? String(err)}`, {
    cause: err,
  });
}
