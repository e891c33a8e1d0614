/** How messages and summaries name ONNX nodes. */
import type { NodeProto } from '../proto/onnx-proto.js';

/** `ONNX node '/0/Gemm' (op Gemm)`: a node by its name (else its first output) and op type, for errors. */
export function describeNode(node: NodeProto): string {
  return `ONNX node '${node.name || node.output[0] || '?'}' (op ${node.opType})`;
}

/** `'/0/Gemm' (Gemm)`: a node in lists (unsupported operators, a step's nodes). */
export function nodeLabel(node: NodeProto): string {
  return `'${node.name || node.output[0]}' (${node.opType})`;
}
