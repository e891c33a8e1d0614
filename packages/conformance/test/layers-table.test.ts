/**
 * The README's supported-layers table is what the extensions' checks say
 * (regenerate it with `pnpm layers-table`), and its rows cover every leaf
 * module class core exports.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpu } from '@backpack-ts/backend-cpu';
import * as core from '@backpack-ts/core';
import { describe, expect, it } from 'vitest';
import { LAYER_EXAMPLES, findRepoRoot, supportedLayersTable, withLayersTable } from '../src/index.js';

/** Base classes core exports that have no instances of their own. */
const ABSTRACT = new Set(['LeafModule', 'ElementwiseModule', 'LossModule', 'ConvNd', 'ConvTransposeNd', 'MaxPoolNd', 'AvgPoolNd', 'AdaptiveAvgPoolNd', 'BatchNormNd', 'RNNBase']);

describe('the supported-layers table', () => {
  it('in README.md is the generated one (run `pnpm layers-table` after changing a rule, a trait or a check)', () => {
    const readme = readFileSync(join(findRepoRoot()!, 'README.md'), 'utf8');
    expect(readme).toBe(withLayersTable(readme, supportedLayersTable(cpu)));
  });

  it('has a row for every leaf module class of core', () => {
    const classes = Object.entries(core).filter(
      ([name, value]) => typeof value === 'function' && value.prototype instanceof core.LeafModule && !ABSTRACT.has(name),
    );
    const covered = new Set(LAYER_EXAMPLES.map((example) => example.create(cpu).constructor));
    expect(classes.filter(([, value]) => !covered.has(value as never)).map(([name]) => name)).toEqual([]);
  });
});
