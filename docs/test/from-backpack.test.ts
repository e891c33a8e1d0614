import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../scripts/api-docs.js';
import { ApiNames, codeSpans, tablesWith } from '../scripts/api-names.js';

const page = readFileSync(join(ROOT, 'docs/FROM-BACKPACK.md'), 'utf8');
/** `Name` or `Name.member...`: what the backpack-ts column may hold. */
const PATH = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;

describe('docs/FROM-BACKPACK.md', () => {
  let api: ApiNames;
  beforeAll(() => {
    api = new ApiNames();
  });

  it('names only exports of the named package in its backpack-ts columns (BackPACK and curvlinops tables)', () => {
    const rows = [...tablesWith(page, ['BackPACK', 'backpack-ts', 'package']), ...tablesWith(page, ['curvlinops', 'backpack-ts', 'package'])];
    expect(rows.length).toBeGreaterThan(30);
    expect(rows.some((row) => row['curvlinops'] !== undefined)).toBe(true);
    const problems: string[] = [];
    let checked = 0;
    for (const row of rows) {
      const names = codeSpans(row['backpack-ts']!);
      const packages = codeSpans(row['package']!);
      if (names.length === 0) {
        // No counterpart: the row says "—" and names no package.
        if (row['backpack-ts'] !== '—' || packages.length > 0) problems.push(`line ${row.line}: no name in backpack-ts, yet '${row['backpack-ts']}' / '${row['package']}'`);
        continue;
      }
      if (packages.length !== 1) {
        problems.push(`line ${row.line}: the package column must name one package, got '${row['package']}'`);
        continue;
      }
      for (const name of names) {
        checked++;
        if (!PATH.test(name)) problems.push(`line ${row.line}: '${name}' is not a name or Name.member path`);
        else {
          const problem = api.problem(packages[0]!, name);
          if (problem !== undefined) problems.push(`line ${row.line}: ${problem}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(30);
  });

  it('names only Parameter fields that the named package declares in its savefield table', () => {
    const rows = tablesWith(page, ['BackPACK savefield', 'backpack-ts field', 'package']);
    const problems: string[] = [];
    for (const row of rows) {
      const [field] = codeSpans(row['backpack-ts field']!);
      const [packageName] = codeSpans(row['package']!);
      const problem = field === undefined || packageName === undefined ? 'a field and a package are needed' : api.parameterFieldProblem(packageName, field);
      if (problem !== undefined) problems.push(`line ${row.line}: ${problem}`);
    }
    expect(problems).toEqual([]);
    // Every savefield of the 15 extensions and the 3 curvature products, and .grad.
    expect(rows.map((r) => codeSpans(r['backpack-ts field']!)[0]).sort()).toEqual(
      [
        'grad', 'gradBatch', 'batchL2', 'sumGradSquared', 'variance', 'diagGgnExact', 'diagGgnMc', 'diagGgnExactBatch', 'diagGgnMcBatch',
        'sqrtGgnExact', 'sqrtGgnMc', 'diagH', 'diagHBatch', 'kfac', 'kflr', 'kfra', 'hmp', 'ggnmp', 'pchmp',
      ].sort(),
    );
  });

  it('catches a name that is not exported, a wrong member and a field of another package', () => {
    expect(api.problem('@backpack-ts/core', 'extend')).toBeUndefined();
    expect(api.problem('@backpack-ts/core', 'RuleBasedExtension.setModuleRule')).toBeUndefined();
    expect(api.problem('@backpack-ts/diag-ggn', 'MonteCarloOptions.mcSamples')).toBeUndefined();
    expect(api.problem('@backpack-ts/core', 'BatchGrad')).toMatch(/exports no 'BatchGrad'/);
    expect(api.problem('@backpack-ts/diag-ggn', 'MonteCarloOptions.mc_samples')).toMatch(/no member 'mc_samples'/);
    expect(api.parameterFieldProblem('@backpack-ts/first-order', 'gradBatch')).toBeUndefined();
    expect(api.parameterFieldProblem('@backpack-ts/kronecker', 'gradBatch')).toMatch(/not in @backpack-ts\/kronecker/);
    expect(api.parameterFieldProblem('@backpack-ts/first-order', 'grad_batch')).toMatch(/no field/);
  });
});
