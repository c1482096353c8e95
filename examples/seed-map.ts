/**
 * The seed document's session, end to end: start a local cluster of 2 engines, list the engine ids, map
 * `x => x ** 10` over range(15) in parallel, and stop everything. `npm start` runs it.
 */
import { createCluster, range } from '../src/index.js';

const n = Number(process.env.ENGINES ?? 2);
await using cluster = await createCluster({ n });
const client = await cluster.connect();
console.log('engine ids:', client.ids);
const view = client.view();
const result = await view.map((x: number) => x ** 10, range(15));
console.log('view.map(x => x ** 10, range(15)):', result);
