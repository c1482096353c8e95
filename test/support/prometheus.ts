/**
 * A small parser of the Prometheus text exposition format, for tests that scrape `/metrics`: checks every line is
 * a comment (`# HELP`, `# TYPE`) or a sample `name{labels} value`, and returns the samples by `name{labels}`.
 */

/** Parse Prometheus text into a map from `name{labels}` (labels as written) to the sample's value. */
export function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const value = m[2] === '+Inf' ? Infinity : m[2] === '-Inf' ? -Infinity : Number(m[2]);
    if (Number.isNaN(value) && m[2] !== 'NaN') throw new Error(`bad value in ${JSON.stringify(line)}`);
    samples.set(m[1]!, value);
  }
  return samples;
}
