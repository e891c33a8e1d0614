/**
 * RNN and LSTM forward passes written out in plain JavaScript loops over
 * samples, steps and units (PyTorch's equations), the independent reference
 * for core's recurrent modules.
 */
import type { RNNBase, Tensor } from '@backpack-ts/core';

/** What a reference forward pass returns, as nested arrays. */
export interface ReferenceResult {
  /** `[N][T][H]`: the last layer's hidden state at every step. */
  readonly output: number[][][];
  /** `[L][N][H]`: each layer's last hidden state. */
  readonly h: number[][][];
  /** `[L][N][H]`: each layer's last cell state (LSTM), else undefined. */
  readonly c: number[][][] | undefined;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** Row-major values of a tensor as a `[rows][cols]` matrix. */
function matrix(t: Tensor): number[][] {
  const [rows, cols] = [t.shape[0]!, t.shape[1]!];
  const data = t.toArray();
  return Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => data[r * cols + c]!));
}

/**
 * The module's forward pass by loops, from its current parameters, on
 * `input` in the module's layout. `cell` is `'tanh'`, `'relu'` or `'lstm'`.
 */
export function referenceForward(module: RNNBase, cell: 'tanh' | 'relu' | 'lstm', input: Tensor): ReferenceResult {
  const data = input.toArray();
  const [a, b, features] = [input.shape[0]!, input.shape[1]!, input.shape[2]!];
  const [n, steps] = module.batchFirst ? [a, b] : [b, a];
  const at = (s: number, t: number, i: number) => data[(module.batchFirst ? s * steps + t : t * n + s) * features + i]!;
  let sequence: number[][][] = Array.from({ length: n }, (_, s) => Array.from({ length: steps }, (_, t) => Array.from({ length: features }, (_, i) => at(s, t, i))));
  const hidden = module.hiddenSize;
  const lastH: number[][][] = [];
  const lastC: number[][][] = [];
  for (let l = 0; l < module.numLayers; l++) {
    const wIh = matrix(module.parameter(`weight_ih_l${l}`).data);
    const wHh = matrix(module.parameter(`weight_hh_l${l}`).data);
    const bias = (name: string) => (module.bias ? Array.from(module.parameter(`${name}_l${l}`).data.toArray()) : new Array<number>(wIh.length).fill(0));
    const [bIh, bHh] = [bias('bias_ih'), bias('bias_hh')];
    const layerOut: number[][][] = [];
    lastH.push([]);
    lastC.push([]);
    for (let s = 0; s < n; s++) {
      let h = new Array<number>(hidden).fill(0);
      let c = new Array<number>(hidden).fill(0);
      const outs: number[][] = [];
      for (let t = 0; t < steps; t++) {
        const x = sequence[s]![t]!;
        const z = wIh.map((row, r) => row.reduce((acc, w, i) => acc + w * x[i]!, bIh[r]! + bHh[r]!) + wHh[r]!.reduce((acc, w, k) => acc + w * h[k]!, 0));
        if (cell === 'lstm') {
          const gate = (k: number, j: number) => z[k * hidden + j]!;
          c = c.map((cj, j) => sigmoid(gate(1, j)) * cj + sigmoid(gate(0, j)) * Math.tanh(gate(2, j)));
          h = c.map((cj, j) => sigmoid(gate(3, j)) * Math.tanh(cj));
        } else {
          h = z.map((v) => (cell === 'tanh' ? Math.tanh(v) : Math.max(v, 0)));
        }
        outs.push(h);
      }
      layerOut.push(outs);
      lastH[l]!.push(h);
      lastC[l]!.push(c);
    }
    sequence = layerOut;
  }
  return { output: sequence, h: lastH, c: cell === 'lstm' ? lastC : undefined };
}

/** `[N][T][H]` in the module's layout, flat row-major. */
export function flattenSequence(module: RNNBase, sequence: number[][][]): number[] {
  const [n, steps] = [sequence.length, sequence[0]!.length];
  const out: number[] = [];
  if (module.batchFirst) for (const s of sequence) for (const step of s) out.push(...step);
  else for (let t = 0; t < steps; t++) for (let s = 0; s < n; s++) out.push(...sequence[s]![t]!);
  return out;
}
