/**
 * Locally, a suite whose service (PostgreSQL, Redis Cluster) cannot be had is skipped with a
 * loud banner, so the rest of the suite still runs on a laptop without it. Under CI=true a
 * missing service fails the run instead: a green CI run must mean every suite ran.
 */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(true|1|yes)$/i.test((env['CI'] ?? '').trim());
}

/**
 * Reports that `service` could not be had (`reason`): throws under CI=true, else warns that
 * `skipped` is skipped. Call it where the suite decides to skip.
 */
export function serviceUnavailable(service: string, reason: string, skipped: string, env: NodeJS.ProcessEnv = process.env): void {
  if (isCi(env)) {
    throw new Error(
      `CI=true and ${service} could not be had (${reason}): ${skipped} cannot run, so the run fails instead of skipping it. ` +
        'Start the service (see .ci/run) or unset CI to skip it locally.',
    );
  }
  console.warn(`\n!!! ${service} could not be had (${reason}): ${skipped} is SKIPPED !!!\n`);
}
