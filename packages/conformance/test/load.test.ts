import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { delimiter } from 'node:path';
import { GOLDEN_DIR_ENV, findRepoRoot, goldenDir, goldenDirs, goldenTestCases, listGoldenCases, loadGoldenCase } from '../src/index.js';

describe('golden files', () => {
  const saved = process.env[GOLDEN_DIR_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[GOLDEN_DIR_ENV];
    else process.env[GOLDEN_DIR_ENV] = saved;
  });

  it('looks beside the repository root by default, in golden and golden-modules', () => {
    delete process.env[GOLDEN_DIR_ENV];
    const root = findRepoRoot();
    expect(root).toBeDefined();
    expect(goldenDirs()).toEqual([join(root!, '..', 'shared', 'golden'), join(root!, '..', 'shared', 'golden-modules')]);
    expect(goldenDir()).toBe(join(root!, '..', 'shared', 'golden'));
  });

  it('reads several folders from $BACKPACK_GOLDEN_DIR, and refuses a name found in two', () => {
    const [a, b] = [mkdtempSync(join(tmpdir(), 'backpack-ts-golden-a-')), mkdtempSync(join(tmpdir(), 'backpack-ts-golden-b-'))];
    writeFileSync(join(a, 'x.json'), '{}');
    writeFileSync(join(b, 'w.json'), '{}');
    process.env[GOLDEN_DIR_ENV] = [a, b].join(delimiter);
    expect(listGoldenCases().map((f) => [f.name, f.dir])).toEqual([['w', b], ['x', a]]);
    writeFileSync(join(b, 'x.json'), '{}');
    expect(() => listGoldenCases()).toThrow(`golden case 'x' is in two folders: ${join(a, 'x.json')} and ${join(b, 'x.json')}`);
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
      skipMessage: `golden files not found at ${absent} (set ${GOLDEN_DIR_ENV} to their folders); suite skipped`,
    });
  });

  it.each(['true', '1'])('fails the suite when CI is %j', (ci) => {
    vi.stubEnv('CI', ci);
    expect(() => goldenTestCases(absent)).toThrow(
      `golden files not found at ${absent} (set ${GOLDEN_DIR_ENV} to their folders): CI is set, so the golden suite fails instead of skipping`,
    );
  });
});
