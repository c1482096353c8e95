/**
 * A program that connects to a running cluster the way a user's program does (`Client.connect({ profile })`), maps
 * the seed's function over range(15), and prints `{ ids, squares }` as JSON. Run by the CLI tests as its own process.
 * Usage: node cli-connect-map.js PROFILE [CLUSTER_ID]
 */
import { Client, range } from '../../src/index.js';

const [profile, clusterId] = process.argv.slice(2);
const client = await Client.connect({ profile, clusterId, timeoutMs: 10_000 });
try {
  const result = await client.view().map((x: number) => x ** 10, range(15));
  process.stdout.write(JSON.stringify({ ids: client.ids, result }) + '\n');
} finally {
  await client.close();
}
