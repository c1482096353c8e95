/**
 * The dashboard: a web page, its live data and Prometheus `/metrics` on one port, served from the controller
 * (`controller.dashboard`) or from another process (`tscluster dashboard`), and the statistics it shows.
 * @module tsparallel/dashboard
 */
export { DashboardServer, startDashboard, dashboardToken, localStats, type DashboardOptions, type StatsSource } from './server.js';
export type * from '../wire/stats.js';
export type { DropCounts } from '../wire/protocol.js';
