/**
 * The order the importer walks the graph in and who consumes each value,
 * in time linear in the size of the graph. ONNX requires nodes in
 * topological order, but a file is untrusted and may list them in any
 * order (or not be a graph at all: cycles, values produced twice, inputs
 * nobody produces).
 */
import { OnnxImportError } from '../errors.js';
import type { NodeProto } from '../proto/onnx-proto.js';
import { describeNode } from './describe.js';

/**
 * The nodes the `outputs` depend on, in topological order, keeping the
 * file's order among nodes that are ready together: the order of passes
 * over the pending nodes in file order, each pass taking every node whose
 * inputs are ready by then (one pass for a sorted graph). Computed without
 * the passes: a node's pass is the latest of its producers' passes, one
 * later for a producer listed after it (Kahn's algorithm gives every
 * producer's pass before its consumers'); the nodes are then listed by pass
 * and file position.
 */
export function graphOrder(nodes: readonly NodeProto[], available: ReadonlySet<string>, outputs: readonly string[]): NodeProto[] {
  const producer = new Map<string, NodeProto>();
  for (const node of nodes) {
    for (const out of node.output) {
      if (out === '') continue;
      if (producer.has(out) || available.has(out)) {
        throw new OnnxImportError(`${describeNode(node)}: value '${out}' is produced twice (the graph is not valid ONNX)`);
      }
      producer.set(out, node);
    }
  }
  // Live nodes: those the outputs depend on.
  const live = new Set<NodeProto>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const name = stack.pop()!;
    const node = producer.get(name);
    if (node === undefined || live.has(node)) continue;
    live.add(node);
    for (const input of node.input) if (input !== '') stack.push(input);
  }
  const pending = nodes.filter((n) => live.has(n));
  const position = new Map(pending.map((n, i) => [n, i]));
  // For each node, how many of its inputs are still to be produced, and which nodes wait for its outputs.
  const unready = new Array<number>(pending.length).fill(0);
  const consumers = pending.map((): number[] => []);
  pending.forEach((node, i) => {
    for (const input of node.input) {
      if (input === '' || available.has(input)) continue;
      unready[i]!++;
      // An input nobody produces keeps its node waiting for ever (reported below).
      const from = producer.get(input);
      if (from !== undefined) consumers[position.get(from)!]!.push(i);
    }
  });
  const pass = new Array<number>(pending.length).fill(0);
  const queue = pending.flatMap((_, i) => (unready[i] === 0 ? [i] : []));
  for (let head = 0; head < queue.length; head++) {
    const i = queue[head]!;
    for (const j of consumers[i]!) {
      pass[j] = Math.max(pass[j]!, pass[i]! + (i > j ? 1 : 0));
      if (--unready[j]! === 0) queue.push(j);
    }
  }
  if (queue.length < pending.length) {
    const done = new Set(available);
    for (const i of queue) for (const out of pending[i]!.output) if (out !== '') done.add(out);
    const node = pending.find((_, i) => unready[i]! > 0)!;
    const missing = node.input.find((i) => i !== '' && !done.has(i))!;
    throw new OnnxImportError(
      producer.has(missing)
        ? `${describeNode(node)}: the graph has a cycle through '${missing}'`
        : `${describeNode(node)}: input '${missing}' is not produced by any node, initializer or graph input`,
    );
  }
  // By pass, then by position in the file: a bucket per pass, filled in file order.
  const byPass = pending.map((): NodeProto[] => []);
  pending.forEach((node, i) => byPass[pass[i]!]!.push(node));
  return byPass.flat();
}

/** The nodes of `order` that consume each value; a graph output counts as a consumer `null`. */
export function consumersOf(order: readonly NodeProto[], outputName: string): Map<string, (NodeProto | null)[]> {
  const consumers = new Map<string, (NodeProto | null)[]>();
  const add = (name: string, node: NodeProto | null) => {
    const list = consumers.get(name);
    if (list === undefined) consumers.set(name, [node]);
    else list.push(node);
  };
  for (const node of order) for (const input of node.input) if (input !== '') add(input, node);
  add(outputName, null);
  return consumers;
}
