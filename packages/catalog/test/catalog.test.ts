import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BACKENDS, BACKEND_NAMES, CURVATURE_PRODUCT_EXTENSIONS, EXTENSIONS, EXTENSION_NAMES, MONTE_CARLO_EXTENSION_NAMES, findBackend, findExtension, isBackendName } from '../src/index.js';

const packages = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('catalog', () => {
  it('names each extension as its instance names itself, and passes the Monte-Carlo options on', () => {
    for (const [name, entry] of EXTENSIONS) {
      expect(entry.name).toBe(name);
      expect(entry.create().name).toBe(name);
    }
    expect(EXTENSION_NAMES).toHaveLength(15);
    expect(MONTE_CARLO_EXTENSION_NAMES).toEqual(['DiagGGNMC', 'BatchDiagGGNMC', 'SqrtGGNMC', 'KFAC']);
    const kfac = EXTENSIONS.get('KFAC')!.create({ mcSamples: 3, seed: 7 }) as unknown as { mcSamples: number };
    expect(kfac.mcSamples).toBe(3);
  });

  it('names each curvature-product extension as its instance names itself', () => {
    expect([...CURVATURE_PRODUCT_EXTENSIONS.keys()]).toEqual(['HMP', 'GGNMP', 'PCHMP']);
    for (const [name, entry] of CURVATURE_PRODUCT_EXTENSIONS) {
      expect(entry.name).toBe(name);
      expect(entry.create().name).toBe(name);
    }
  });

  it('finds extensions case-insensitively and backends exactly, and never a property of Object', () => {
    expect(findExtension('batchgrad')?.name).toBe('BatchGrad');
    expect(findBackend('cpu')?.packageName).toBe('@backpack-ts/backend-cpu');
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(findExtension(name)).toBeUndefined();
      expect(findBackend(name)).toBeUndefined();
      expect(isBackendName(name)).toBe(false);
    }
    expect(BACKENDS.get('cpu')!.fromModule({ constructor: 1 } as Record<string, unknown>)).toBeUndefined();
  });

  it('names each backend after the package in its workspace folder', () => {
    expect([...BACKENDS.keys()]).toEqual([...BACKEND_NAMES]);
    for (const [name, entry] of BACKENDS) {
      expect(entry.name).toBe(name);
      const manifest = join(packages, entry.workspaceDir, 'package.json');
      expect(existsSync(manifest), manifest).toBe(true);
      expect((JSON.parse(readFileSync(manifest, 'utf8')) as { name: string }).name).toBe(entry.packageName);
    }
  });
});
