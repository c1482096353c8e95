/**
 * Shape checks for every message a role reads, run after the signature check: a validly signed message from a buggy
 * or hostile peer must not reach a handler with fields of the wrong type. Hand-written (no schema library) because
 * they sit on the hot path of every task. Each returns `undefined` for a good message, or a sentence naming what is
 * wrong.
 * @module
 */
import type { Message } from './protocol.js';
import { JOB_STATES } from './stats.js';
import { TASK_STATES } from '../core/tasks.js';
import { BATCH_REPLY, BATCH_REQUEST, checkBatchBuffers } from './task-batch.js';

type Check = (msg: Message) => string | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isIdArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((n) => Number.isInteger(n) && n >= 0);
const optional = (v: unknown, ok: (v: unknown) => boolean) => v === undefined || ok(v);

/**
 * Whether `v` is an error's `props` as an engine sends them: an object of strings, finite numbers, booleans and
 * nulls (a remote error's own primitive properties, `code`, `errno`, …).
 */
export function isErrorProps(v: unknown): v is Record<string, string | number | boolean | null> {
  if (!isObject(v)) return false;
  for (const p of Object.values(v)) {
    if (!(p === null || typeof p === 'string' || typeof p === 'boolean' || (typeof p === 'number' && Number.isFinite(p)))) return false;
  }
  return true;
}

/** The parts every message must have as objects (content, metadata, parent), whatever its type. */
function envelope(msg: Message): string | undefined {
  if (!isObject(msg.header)) return 'the header is not an object';
  if (!isObject(msg.parent)) return 'the parent header is not an object';
  if (!isObject(msg.metadata)) return 'the metadata is not an object';
  if (!isObject(msg.content)) return 'the content is not an object';
  if (msg.parent.msg_id !== undefined && typeof msg.parent.msg_id !== 'string') return 'parent.msg_id is not a string';
  return undefined;
}

/** A function spec: `{ source }` or `{ module, export }`. */
function fnSpec(v: unknown): boolean {
  if (!isObject(v)) return false;
  if (typeof v.source === 'string') return true;
  return typeof v.module === 'string' && typeof v.export === 'string';
}

/** The content and metadata of a task request (apply, map, execute, push, pull). */
function taskRequest(msg: Message): string | undefined {
  const c = msg.content;
  const m = msg.metadata;
  switch (msg.header.msg_type) {
    case 'apply_request':
    case 'map_request':
      if (!fnSpec(c.fn)) return 'content.fn must be { source } or { module, export }';
      break;
    case 'execute_request':
      if (typeof c.code !== 'string') return 'content.code must be a string';
      break;
    case 'pull_request':
      if (typeof c.names !== 'string' && !isStringArray(c.names)) return 'content.names must be a string or an array of strings';
      break;
    case 'push_request':
      break;
    default:
      return `unknown request type '${msg.header.msg_type}'`;
  }
  if (m.balanced === true) {
    if (!optional(m.targets, isIdArray)) return 'metadata.targets must be an array of engine ids (non-negative integers)';
    if (!optional(m.after, isStringArray)) return 'metadata.after must be an array of task ids';
    if (!optional(m.follow, isStringArray)) return 'metadata.follow must be an array of task ids';
    if (!optional(m.retries, (r) => Number.isInteger(r) && (r as number) >= 0)) return 'metadata.retries must be a non-negative integer';
    if (!optional(m.graceMs, (t) => typeof t === 'number' && t >= 0 && t <= 2 ** 31 - 1)) return 'metadata.graceMs must be a number of ms >= 0, at most 2^31 - 1';
    if (!optional(m.timeoutMs, (t) => typeof t === 'number' && t > 0 && t <= 2 ** 31 - 1)) return 'metadata.timeoutMs must be a positive number of ms, at most 2^31 - 1';
  } else if (m.target !== undefined && !(Number.isInteger(m.target) && (m.target as number) >= 0)) {
    return 'metadata.target must be an engine id (a non-negative integer)';
  }
  return undefined;
}

/** Check one task request unpacked from a `batch_request` (`src/wire/task-batch.ts`), as if it had come alone. */
export function checkTaskRequest(msg: Message): string | undefined {
  return envelope(msg) ?? taskRequest(msg);
}

/**
 * {@link checkTaskRequest} for the tasks of one batch, in order: a task with the type, content and metadata objects
 * of the one before it (the tasks of one map share them) gets that one's answer without being checked again.
 */
export function taskChecker(): (task: Message) => string | undefined {
  let last: { type: string; content: object; metadata: object; problem: string | undefined } | undefined;
  return (task) => {
    if (last && last.type === task.header.msg_type && last.content === task.content && last.metadata === task.metadata) return last.problem;
    last = { type: task.header.msg_type, content: task.content, metadata: task.metadata, problem: checkTaskRequest(task) };
    return last.problem;
  };
}

const isByteCounts = (v: unknown): v is number[] => Array.isArray(v) && v.every((n) => Number.isSafeInteger(n) && n >= 0);
const isObjectArray = (v: unknown): v is Record<string, unknown>[] => Array.isArray(v) && v.every(isObject);

/**
 * A `batch_request`'s frame of tasks: tables of contents and metadata, tasks with distinct string ids, request types,
 * indexes into the tables, and buffer lengths that match the buffers. The tasks' own contents and flags are checked
 * one by one once unpacked ({@link checkTaskRequest}).
 */
function batchRequest(msg: Message): string | undefined {
  const c = msg.content;
  if (!isObjectArray(c.contents)) return 'content.contents must be an array of objects (the tasks\' contents)';
  if (!isObjectArray(c.metadata)) return 'content.metadata must be an array of objects (the tasks\' metadata)';
  const tasks = c.tasks;
  if (!Array.isArray(tasks) || tasks.length === 0) return 'content.tasks must be a non-empty array of tasks';
  const ids = new Set<string>();
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i] as Record<string, unknown>;
    if (!isObject(t)) return `content.tasks[${i}] is not an object`;
    if (typeof t.id !== 'string' || t.id.length === 0) return `content.tasks[${i}].id must be a task id (a non-empty string)`;
    if (ids.has(t.id)) return `content.tasks[${i}].id ${t.id} appears twice in the batch`;
    ids.add(t.id);
    if (typeof t.type !== 'string' || !t.type.endsWith('_request') || t.type === BATCH_REQUEST) return `content.tasks[${i}].type must be a request type other than ${BATCH_REQUEST}`;
    if (!(Number.isInteger(t.content) && (t.content as number) >= 0 && (t.content as number) < c.contents.length)) return `content.tasks[${i}].content must index content.contents`;
    if (!(Number.isInteger(t.metadata) && (t.metadata as number) >= 0 && (t.metadata as number) < c.metadata.length)) return `content.tasks[${i}].metadata must index content.metadata`;
    if (!isByteCounts(t.buffers)) return `content.tasks[${i}].buffers must be an array of byte counts`;
  }
  return checkBatchBuffers(tasks.map((t) => (t as { buffers: number[] }).buffers), msg.buffers);
}

/**
 * A `batch_reply`: replies that each answer a request id with a reply type, a reply's content (checked as a single
 * reply's) and metadata, and buffer lengths that match the buffers, and optionally the time they ran (`ranMs`); or,
 * with no replies, an error answering a whole `batch_request` that could not be read.
 */
function batchReply(msg: Message): string | undefined {
  const c = msg.content;
  if (c.replies === undefined && c.status === 'error') return reply(msg);
  const replies = c.replies;
  if (!Array.isArray(replies) || replies.length === 0) return 'content.replies must be a non-empty array of replies';
  if (c.ranMs !== undefined && !(typeof c.ranMs === 'number' && Number.isFinite(c.ranMs) && c.ranMs >= 0)) return 'content.ranMs must be a number of milliseconds >= 0';
  for (let i = 0; i < replies.length; i++) {
    const r = replies[i] as Record<string, unknown>;
    if (!isObject(r)) return `content.replies[${i}] is not an object`;
    if (typeof r.parent !== 'string') return `content.replies[${i}].parent must be the id of the request it answers`;
    if (typeof r.type !== 'string' || !r.type.endsWith('_reply') || r.type === BATCH_REPLY) return `content.replies[${i}].type must be a reply type other than ${BATCH_REPLY}`;
    if (!isObject(r.content) || !isObject(r.metadata)) return `content.replies[${i}].content and .metadata must be objects`;
    const bad = replyContent(r.content);
    if (bad) return `content.replies[${i}]: ${bad}`;
    if (!isByteCounts(r.buffers)) return `content.replies[${i}].buffers must be an array of byte counts`;
  }
  return checkBatchBuffers(replies.map((r) => (r as { buffers: number[] }).buffers), msg.buffers);
}

const TASK_STATE_SET: ReadonlySet<string> = new Set(TASK_STATES);

/** Bounds of a `job_states_request`: what a cluster's launchers can have submitted, with room to spare. */
const MAX_REPORTED_JOBS = 10_000;
const MAX_JOB_TEXT = 1000;
const JOB_STATE_SET = new Set<string>(JOB_STATES);
const shortText = (v: unknown) => typeof v === 'string' && v.length <= MAX_JOB_TEXT;

/** The content of a `job_states_request`: `{ jobs }`, every batch job of the cluster as its owner saw it. */
function jobStatesReport(msg: Message): string | undefined {
  const jobs = msg.content.jobs;
  if (!Array.isArray(jobs) || jobs.length > MAX_REPORTED_JOBS) return `content.jobs must be an array of at most ${MAX_REPORTED_JOBS} jobs`;
  for (const [i, j] of jobs.entries()) {
    const where = `content.jobs[${i}]`;
    if (!isObject(j)) return `${where} must be an object`;
    if (!shortText(j.launcher) || !shortText(j.jobId) || (j.jobId as string).length === 0) return `${where}.launcher and .jobId must be strings (a job id is not empty)`;
    if (j.role !== 'controller' && j.role !== 'engines') return `${where}.role must be 'controller' or 'engines'`;
    if (!Number.isInteger(j.set) || (j.set as number) < 0) return `${where}.set must be a non-negative integer`;
    if (!JOB_STATE_SET.has(j.state as string)) return `${where}.state must be one of ${JOB_STATES.join(', ')}`;
    if (typeof j.since !== 'number' || !Number.isFinite(j.since)) return `${where}.since must be a time in ms since the epoch`;
    if (!optional(j.rawState, shortText) || !optional(j.message, shortText)) return `${where}.rawState and .message must be strings of at most ${MAX_JOB_TEXT} characters`;
  }
  return undefined;
}

const CLIENT_TO_CONTROLLER: Record<string, Check> = {
  connect_request: () => undefined,
  close_request: () => undefined,
  queue_status_request: () => undefined,
  stats_request: () => undefined,
  job_states_request: jobStatesReport,
  heartbeat_request: () => undefined,
  owner_lease_request: ({ content: c }) => (typeof c.heart === 'string' && c.heart.length > 0 ? undefined : 'content.heart must be the owner heart\'s routing identity (a string)'),
  shutdown_request: () => undefined,
  abort_request: ({ content: c }) => (isStringArray(c.msgIds) ? undefined : 'content.msgIds must be an array of task ids'),
  resubmit_request: ({ content: c }) =>
    Array.isArray(c.tasks) && c.tasks.every((t) => isObject(t) && typeof t.old === 'string' && typeof t.new === 'string')
      ? undefined
      : 'content.tasks must be an array of { old, new } task ids',
  task_records_request: ({ content: c }) => {
    const f = c.filter;
    if (f === undefined) return undefined;
    if (!isObject(f)) return 'content.filter must be an object ({ state?, engineId?, msgIds? })';
    const states = Array.isArray(f.state) ? f.state : f.state === undefined ? [] : [f.state];
    if (!states.every((s) => TASK_STATE_SET.has(s as string))) return `filter.state must be one of ${TASK_STATES.join(', ')}, or an array of them`;
    if (!optional(f.engineId, Number.isInteger)) return 'filter.engineId must be an integer';
    if (!optional(f.msgIds, isStringArray)) return 'filter.msgIds must be an array of task ids';
    return undefined;
  },
  purge_request: ({ content: c }) => (optional(c.msgIds, isStringArray) ? undefined : 'content.msgIds must be an array of task ids, or absent'),
  result_request: ({ content: c }) => (isStringArray(c.msgIds) ? undefined : 'content.msgIds must be an array of task ids'),
  [BATCH_REQUEST]: batchRequest,
};

/** Check a message a client sent to the controller. */
export function checkClientMessage(msg: Message): string | undefined {
  const bad = envelope(msg);
  if (bad) return bad;
  const check = CLIENT_TO_CONTROLLER[msg.header.msg_type];
  if (check) return check(msg);
  return taskRequest(msg);
}

/** Check a message an engine sent to the controller (registration, task records, tasks given back, replies). */
export function checkEngineMessage(msg: Message): string | undefined {
  const bad = envelope(msg);
  if (bad) return bad;
  const c = msg.content;
  switch (msg.header.msg_type) {
    case 'registration_request':
      if (!optional(c.pid, Number.isInteger)) return 'content.pid must be an integer';
      if (!optional(c.hostname, (h) => typeof h === 'string')) return 'content.hostname must be a string';
      if (!optional(c.direct, (d) => typeof d === 'string')) return 'content.direct must be a string';
      if (!optional(c.pidNamespace, (d) => typeof d === 'string')) return 'content.pidNamespace must be a string';
      if (!optional(c.directKey, (d) => typeof d === 'string')) return 'content.directKey must be a string';
      if (!optional(c.requestedId, (v) => Number.isInteger(v) && (v as number) >= 0)) return 'content.requestedId must be an engine id (a non-negative integer)';
      if (!optional(c.jobEnd, (v) => typeof v === 'number' && Number.isFinite(v))) return 'content.jobEnd must be a time in ms since the epoch';
      if (!optional(c.reconnectedTo, (v) => typeof v === 'string')) return 'content.reconnectedTo must be a session id';
      if (!optional(c.replaces, Number.isInteger)) return 'content.replaces must be an engine id';
      if (!optional(c.id, Number.isInteger)) return 'content.id must be an engine id';
      if (!optional(c.held, isStringArray) || !optional(c.done, isStringArray)) return 'content.held and content.done must be arrays of task ids';
      return undefined;
    case 'unregistration_request':
      return optional(c.exitCode, Number.isInteger) ? undefined : 'content.exitCode must be an integer (the code the engine exits with)';
    case 'engine_event':
      return typeof c.event === 'string' ? undefined : 'content.event must be a string';
    case 'tasks_returned':
      return isStringArray(c.msgIds) ? undefined : 'content.msgIds must be an array of task ids';
    case 'task_records': {
      if (!Array.isArray(c.records)) return 'content.records must be an array of task records';
      for (const [i, r] of c.records.entries()) {
        const problem = taskRecord(r);
        if (problem) return `content.records[${i}]: ${problem}`;
      }
      return undefined;
    }
  }
  if (msg.header.msg_type === BATCH_REPLY) return batchReply(msg);
  if (!msg.header.msg_type.endsWith('_reply')) return `unknown message type '${msg.header.msg_type}'`;
  if (typeof msg.parent.msg_id !== 'string') return 'a reply needs parent.msg_id';
  return reply(msg);
}

/** An engine's record of a direct request it answered (one of `task_records`). */
function taskRecord(r: unknown): string | undefined {
  if (!isObject(r)) return 'a task record must be an object';
  if (typeof r.msgId !== 'string' || typeof r.type !== 'string') return 'msgId and type must be strings';
  if (!TASK_STATE_SET.has(r.state as string)) return 'state must be a task state';
  if (typeof r.started !== 'number' || typeof r.completed !== 'number') return 'started and completed must be numbers';
  if (!optional(r.error, (e) => isObject(e) && typeof e.name === 'string' && typeof e.message === 'string')) return 'error must be { name, message }';
  return undefined;
}

/** A reply's content: a status, and an error `{ name, message }` when it is not ok. */
function reply(msg: Message): string | undefined {
  return replyContent(msg.content);
}

function replyContent(c: Record<string, unknown>): string | undefined {
  if (c.status !== 'ok' && c.status !== 'error' && c.status !== 'aborted') return "content.status must be 'ok', 'error' or 'aborted'";
  if (c.status !== 'ok' && !(isObject(c.error) && typeof c.error.name === 'string' && typeof c.error.message === 'string')) return 'content.error must be { name, message }';
  if (c.status !== 'ok' && !optional((c.error as Record<string, unknown>).props, isErrorProps)) return 'content.error.props must be an object of strings, numbers, booleans and nulls';
  return undefined;
}

/** Check a message an engine reads (from the controller or, on its direct endpoint, from a client). */
export function checkEngineInput(msg: Message): string | undefined {
  const bad = envelope(msg);
  if (bad) return bad;
  switch (msg.header.msg_type) {
    case 'registration_reply':
      if (msg.content.status === 'error') return typeof msg.content.error === 'string' ? undefined : 'content.error must say why the registration was refused';
      if (!optional(msg.content.maxMessageBytes, (n) => Number.isSafeInteger(n) && (n as number) > 0)) return 'content.maxMessageBytes must be a positive whole number of bytes';
      return Number.isInteger(msg.content.id) ? undefined : 'content.id must be an integer';
    case 'shutdown_request':
      return undefined;
    case 'abort_request':
    case 'result_request':
      return isStringArray(msg.content.msgIds) ? undefined : 'content.msgIds must be an array of task ids';
    case BATCH_REQUEST:
      return batchRequest(msg);
  }
  return taskRequest(msg);
}

/** Check a message a client reads (replies and notices from the controller, replies from engines). */
export function checkClientInput(msg: Message): string | undefined {
  const bad = envelope(msg);
  if (bad) return bad;
  const c = msg.content;
  switch (msg.header.msg_type) {
    case 'engine_registered':
      if (!Number.isInteger(c.id)) return 'content.id must be an integer';
      if (!optional(c.direct, (d) => typeof d === 'string') || !optional(c.hostname, (h) => typeof h === 'string')) return 'content.direct and content.hostname must be strings';
      if (!optional(c.replaces, Number.isInteger)) return 'content.replaces must be an engine id';
      return undefined;
    case 'engine_unregistered':
    case 'engine_event':
      return Number.isInteger(c.id) ? undefined : 'content.id must be an integer';
    case 'heartbeat_reply':
      return undefined;
    case BATCH_REPLY:
      return batchReply(msg);
  }
  return undefined;
}
