/**
 * `pnpm layers-table`: regenerates the supported-layers table of the
 * repository's README.md (between its markers) from the extensions' checks.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpu } from '@backpack-ts/backend-cpu';
import { findRepoRoot, supportedLayersTable, withLayersTable } from '../src/index.js';

const readme = join(findRepoRoot()!, 'README.md');
const before = readFileSync(readme, 'utf8');
const after = withLayersTable(before, supportedLayersTable(cpu));
writeFileSync(readme, after);
console.log(after === before ? `${readme}: the supported-layers table is up to date` : `${readme}: supported-layers table regenerated`);
