/**
 * Serving the dashboard from the controller's own process (`controller.dashboard` in the config, or
 * `tscontroller --dashboard-port`): the server reads the controller's collector directly, and its URL is written,
 * mode 0600, to `security/tsparallel[-ID]-dashboard.json` so `tscluster dashboard` and users can find it.
 * @module
 */
import debug from 'debug';
import { rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dashboardToken, localStats, startDashboard, type DashboardServer } from '../dashboard/server.js';
import type { Controller } from './controller.js';

const log = debug('tsparallel:controller');

/** The file, in the profile's `security/`, where a controller that serves the dashboard writes its URL. */
export function dashboardFileName(clusterId: string): string {
  return `tsparallel${clusterId ? '-' + clusterId : ''}-dashboard.json`;
}

/** Start the dashboard server on the controller's statistics, and stop it with the controller. */
export async function serveDashboard(controller: Controller, where: { port: number; host: string }): Promise<DashboardServer> {
  const server = await startDashboard({
    source: localStats(controller.stats),
    token: dashboardToken(controller.clientInfo.key),
    port: where.port,
    host: where.host,
  });
  const securityDir = path.dirname(controller.connectionFiles[0]!);
  const file = path.join(securityDir, dashboardFileName(controller.clientInfo.clusterId));
  await writeFile(file, JSON.stringify({ url: server.url, pid: process.pid }, null, 2) + '\n', { mode: 0o600 });
  log('dashboard at http://%s:%d/ (token in %s)', where.host, server.port, file);
  controller.onStop(() => {
    // Synchronously: the process may exit right after the controller stops.
    rmSync(file, { force: true });
    void server.close();
  });
  return server;
}
