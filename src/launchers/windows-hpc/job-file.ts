/**
 * The adapter from a Windows HPC job file to a {@link JobDescription}: what lets any scheduler (the in-process test
 * scheduler, the `job` simulator) run the job files the `windows-hpc` launcher writes, without knowing HPC's XML.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { SchedulerError } from '../../core/errors.js';
import type { JobDescription } from '../../core/scheduler.js';
import { parseJobXml } from './job-xml.js';

/**
 * Read an HPC Pack 2008 job file (as the `windows-hpc` launcher writes them) as a job description; task command
 * lines are split by the Windows rules.
 * @example
 * ```ts
 * const id = await new InProcessScheduler().submit(await readHpcJobFile('ipengineset_job.xml'));
 * ```
 * @throws SchedulerError when the file cannot be read or is not a job file.
 */
export async function readHpcJobFile(file: string, options: { signal?: AbortSignal } = {}): Promise<JobDescription> {
  let xml: string;
  try {
    xml = await readFile(file, { encoding: 'utf8', signal: options.signal });
  } catch (cause) {
    throw new SchedulerError(`windows-hpc: cannot read job file ${file}: ${(cause as Error).message}`, { cause });
  }
  try {
    return parseJobXml(xml).job;
  } catch (cause) {
    throw new SchedulerError(`windows-hpc: ${file}: ${(cause as Error).message}`, { cause });
  }
}
