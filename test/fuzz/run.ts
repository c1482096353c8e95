/**
 * `npm run fuzz -- --seconds N [--seed S]`: a long fuzzing campaign against a fresh local cluster (see
 * campaign.ts). Prints a JSON report; exit status 1 when a check failed, 2 on bad flags.
 * @module
 */
import { campaign } from './campaign.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`--${name} takes a positive number, got '${process.argv[i + 1]}'`);
    process.exit(2);
  }
  return v;
}

const seconds = flag('seconds', 60);
const seed = flag('seed', Date.now() % 2 ** 31);
const report = await campaign({ seconds, seed });
console.log(JSON.stringify(report, null, 2));
process.exitCode = report.problems.length ? 1 : 0;
