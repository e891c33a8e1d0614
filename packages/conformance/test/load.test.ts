import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GOLDEN_DIR_ENV, findRepoRoot, goldenDir, goldenTestCases, listGoldenCases, loadGoldenCase } from '../src/index.js';

describe('golden files', () => {
  const saved = process.env[GOLDEN_DIR_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[GOLDEN_DIR_ENV];
    else process.env[GOLDEN_DIR_ENV] = saved;
  });

  it('looks beside the repository root by default', () => {
    delete process.env[GOLDEN_DIR_ENV];
    const root = findRepoRoot();
    expect(root).toBeDefined();
    expect(goldenDir()).toBe(join(root!, '..', 'shared', 'golden'));
  });

  it('lists nothing when the directory is absent', () => {
    process.env[GOLDEN_DIR_ENV] = join(tmpdir(), 'backpack-ts-no-such-golden-dir');
    expect(listGoldenCases()).toEqual([]);
  });

  it('lists and loads the JSON files of $BACKPACK_GOLDEN_DIR, sorted by name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'backpack-ts-golden-'));
    const golden = {
      name: 'tiny',
      case: { name: 'tiny', seed: 0, batch: 1, input: { shape: [1] }, layers: [], loss: { type: 'MSELoss' } },
      input: { shape: [1, 1], data: [1] },
      target: { shape: [1, 1], data: [0] },
      output: { shape: [1, 1], data: [1] },
      loss: 1,
      params: {},
      quantities: {},
    };
    writeFileSync(join(dir, 'b.json'), JSON.stringify(golden));
    writeFileSync(join(dir, 'a.json'), JSON.stringify(golden));
    writeFileSync(join(dir, 'README.md'), '# not a case');
    process.env[GOLDEN_DIR_ENV] = dir;
    const files = listGoldenCases();
    expect(files.map((f) => f.name)).toEqual(['a', 'b']);
    expect(loadGoldenCase(files[0]!).case.loss.type).toBe('MSELoss');
    writeFileSync(join(dir, 'c.json'), '{"something": "else"}');
    expect(() => loadGoldenCase(join(dir, 'c.json'))).toThrow(/is not a golden case/);
  });
});

describe('a missing golden folder', () => {
  const absent = join(tmpdir(), 'backpack-ts-no-such-golden-dir');
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it.each(['', '0', 'false', undefined])('skips the suite, saying where it looked, when CI is %j', (ci) => {
    vi.stubEnv('CI', ci);
    expect(goldenTestCases(absent)).toEqual({
      cases: [],
      skipMessage: `golden files not found at ${absent} (set ${GOLDEN_DIR_ENV} to their folder); suite skipped`,
    });
  });

  it.each(['true', '1'])('fails the suite when CI is %j', (ci) => {
    vi.stubEnv('CI', ci);
    expect(() => goldenTestCases(absent)).toThrow(
      `golden files not found at ${absent} (set ${GOLDEN_DIR_ENV} to their folder): CI is set, so the golden suite fails instead of skipping`,
    );
  });
});
