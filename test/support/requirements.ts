/**
 * Tests that need an external tool (xmllint, a scheduler) skip with a clear message where it is absent; under CI
 * (CI=true), which installs every such tool, a missing one is an error instead, so a skip can never hide there.
 */

/**
 * The skip reason for a test needing `tool`, or false when it is there.
 * @throws Error under CI when the tool is missing.
 */
export function requireTool(tool: string, present: boolean, install: string): string | false {
  if (present) return false;
  const reason = `${tool} is not installed (${install})`;
  if (process.env.CI === 'true') throw new Error(`${reason}: .ci/run installs it, so CI must not skip these tests`);
  return reason;
}
