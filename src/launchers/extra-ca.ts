/**
 * `NODE_EXTRA_CA_CERTS` for engines started on this host, narrowed to the certificates Node does not already trust.
 *
 * Node 20 builds its whole root store when a process boots if that variable is set (its ~144 bundled roots, then the
 * file's), whether or not the process ever opens a TLS connection. Machines often point the variable at the system
 * bundle, which repeats most of Node's own roots: on the bench machine that file held 144 certificates of which 122
 * are Node's, and a boot cost 67 ms of CPU with it, 47 with only the other 22, 21 without. The trust an engine gets is
 * the union of Node's roots and the file's, so a file less the roots Node already bundles gives the same trust for
 * less work; a file with nothing else is dropped.
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import debug from 'debug';

const log = debug('tsparallel:launcher:extra-ca');

/** A PEM block: its label and its base64 body. */
const PEM_BLOCK = /-----BEGIN ([^\r\n-]+)-----([\s\S]*?)-----END ([^\r\n-]+)-----/g;
/** Every BEGIN line, to tell when a block was malformed and not matched whole. */
const PEM_BEGIN = /-----BEGIN /g;

/** The DER of a certificate as base64 without line breaks: equal for the same certificate however it is wrapped. */
function bodyOf(base64: string): string {
  return base64.replace(/\s+/g, '');
}

let bundled: Set<string> | undefined;
/** Node's bundled roots (what `tls.rootCertificates` lists), by body. */
function bundledBodies(): Set<string> {
  bundled ??= new Set(rootCertificates.map((pem) => bodyOf(pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, ''))));
  return bundled;
}

/**
 * Whether a child started as `command` with `env` trusts Node's bundled roots plus `NODE_EXTRA_CA_CERTS`, the same
 * roots as this process lists: it runs this process's Node binary, and neither that binary's build nor an option
 * makes it use OpenSSL's store instead.
 */
function trustsBundledRoots(command: readonly string[], env: NodeJS.ProcessEnv): boolean {
  if (command[0] !== process.execPath) return false;
  const options = [...command, ...(env.NODE_OPTIONS ?? '').split(/\s+/), ...process.execArgv];
  if (options.some((option) => option.includes('openssl-ca') || option.includes('system-ca'))) return false;
  const build = process.config.variables as unknown as Record<string, unknown>;
  return !Object.entries(build).some(([key, value]) => /ca_store|openssl_ca/.test(key) && value !== false && value !== 'false' && value !== 0);
}

/**
 * The certificates of `text` that Node does not bundle, as PEM; `null` when the file is not only well-formed
 * `CERTIFICATE` blocks (other kinds, say `TRUSTED CERTIFICATE`, are read by OpenSSL rules this does not repeat), so
 * the caller keeps it whole.
 */
export function certificatesNotBundled(text: string): string[] | null {
  return sortCertificates(text)?.extra ?? null;
}

/** The certificates of `text` that Node does not bundle, and how many it holds in all; `null` as above. */
function sortCertificates(text: string): { extra: string[]; total: number } | null {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length !== (text.match(PEM_BEGIN)?.length ?? 0)) return null;
  const roots = bundledBodies();
  const extra: string[] = [];
  for (const [, begin, base64, end] of blocks) {
    if (begin !== 'CERTIFICATE' || end !== 'CERTIFICATE') return null;
    const body = bodyOf(base64!);
    if (roots.has(body)) continue;
    const pem = `-----BEGIN CERTIFICATE-----\n${body.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
    try {
      new X509Certificate(pem);
    } catch {
      return null; // Node would stop reading the file here; keep it whole so that it still does
    }
    extra.push(pem);
  }
  return { extra, total: blocks.length };
}

/** The certificates of each file not in Node's roots, by its path, size and time; `null`: keep the file whole. */
const narrowed = new Map<string, Promise<string[] | null>>();

async function readNotBundled(file: string): Promise<string[] | null> {
  try {
    const sorted = sortCertificates(await readFile(file, 'utf8'));
    // Nothing of Node's in it: the file as it is.
    return sorted === null || sorted.extra.length === sorted.total ? null : sorted.extra;
  } catch {
    return null; // unreadable: Node warns about it in the child, as it would have
  }
}

/** `certificates` written to `target` unless it holds them already; false if it cannot be written. */
async function writeNarrowed(certificates: readonly string[], target: string): Promise<boolean> {
  const content = certificates.join('');
  try {
    if ((await readFile(target, 'utf8').catch(() => '')) !== content) {
      await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      const partial = `${target}.${process.pid}.partial`;
      await writeFile(partial, content, { mode: 0o600 });
      await rename(partial, target);
    }
    return true;
  } catch (error) {
    log('cannot write %s: %s', target, (error as Error).message);
    return false;
  }
}

/**
 * `env` for a child started as `command`, with `NODE_EXTRA_CA_CERTS` narrowed to the certificates Node does not
 * bundle (see the module's comment): `target`, written with only those, or no variable when the file adds nothing
 * to Node's roots. `env` itself when the variable is unset, when the child may not trust Node's bundled roots, and
 * at any doubt (an unreadable file, a PEM block other than a well-formed `CERTIFICATE`, a write that fails), so the
 * child trusts exactly what it would have trusted.
 * `target` must be in a directory private to the user (the profile's `security/`): engines trust what it holds; the
 * cluster removes it when it stops.
 * @internal
 */
export async function withNarrowedExtraCa(env: NodeJS.ProcessEnv, command: readonly string[], target: string): Promise<NodeJS.ProcessEnv> {
  const file = env.NODE_EXTRA_CA_CERTS;
  if (!file || !trustsBundledRoots(command, env)) return env;
  let key: string;
  try {
    const { size, mtimeMs } = await stat(file);
    key = JSON.stringify([path.resolve(file), size, mtimeMs]);
  } catch {
    return env;
  }
  let pending = narrowed.get(key);
  if (!pending) narrowed.set(key, (pending = readNotBundled(file)));
  const extra = await pending;
  if (extra === null) return env;
  const out = { ...env };
  if (extra.length === 0) {
    log('%s adds no certificate to Node’s roots: engines start without NODE_EXTRA_CA_CERTS', file);
    delete out.NODE_EXTRA_CA_CERTS;
    return out;
  }
  if (!(await writeNarrowed(extra, target))) return env;
  log('%s: %d of its certificates are not among Node’s roots; engines read %s', file, extra.length, target);
  out.NODE_EXTRA_CA_CERTS = target;
  return out;
}
