/**
 * The Hessian-free product configurations: one GGN-vector product and one
 * Hessian-vector product w.r.t. every parameter, with one random vector per
 * parameter drawn once per configuration, as the reference times BackPACK's
 * `ggn_vector_product_from_plist(loss, output, params, v)` and
 * `hessian_vector_product(loss, params, v)` after a forward pass.
 */
import { Generator, type Tensor } from '@backpack-ts/core';
import { ggnVectorProductFromParameters, hessianVectorProduct } from '@backpack-ts/curvmatprod';
import type { ProductName } from './configurations.js';
import type { Workload } from './workloads.js';

/** Seed of the vectors. */
const VECTOR_SEED = 0;

/** A product on a workload: forward pass and loss, then the product; returns one tensor per parameter. */
export function makeProduct(name: ProductName, workload: Workload): () => Tensor[] {
  const parameters = workload.model.parameters();
  const generator = new Generator(VECTOR_SEED);
  const vectors = parameters.map((p) => generator.normal(p.data.shape, { backend: p.data.backend, dtype: p.data.dtype }));
  return () => {
    const output = workload.model.forward(workload.inputs);
    const loss = workload.loss.forward(output, workload.labels);
    return name === 'GGNVP' ? ggnVectorProductFromParameters(loss, output, parameters, vectors) : hessianVectorProduct(loss, parameters, vectors);
  };
}
