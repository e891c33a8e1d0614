import { afterEach, describe, expect, it } from 'vitest';
import { findLiveSetup, liveJobs } from '../src/live-reference.js';
import type { Config } from '../src/measure.js';
import { referenceKey, type Reference } from '../src/reference.js';

const config = (threads: number, workload: Config['workload'], extension: Config['extension'], backend: Config['backend'] = 'cpu'): Config => ({
  backend,
  threads,
  dtype: 'float32',
  workload,
  batchSize: 128,
  extension,
  warmup: 2,
  steps: 7,
});

describe('liveJobs', () => {
  it('asks the reference once per thread count, workload and configuration, none for all first-order at once', () => {
    const configs = [
      config(1, 'seed', 'grad'),
      config(1, 'seed', 'grad', 'onnxruntime'),
      config(2, 'seed', 'grad', 'onnxruntime'),
      config(1, 'seed', 'FirstOrder'),
      config(1, 'seed', 'HVP'),
    ];
    expect(liveJobs(configs, undefined)).toEqual({
      jobs: [
        { threads: 1, workload: 'seed', configuration: 'grad' },
        { threads: 2, workload: 'seed', configuration: 'grad' },
        { threads: 1, workload: 'seed', configuration: 'HVP' },
      ],
      skipped: new Map(),
    });
  });

  it('leaves out what the reference file records as skipped, with its reason', () => {
    const file: Reference = {
      info: { kind: 'file', path: '/r.json' },
      entry: (_threads, workload, configuration) => (workload === 'cnn' && configuration === 'KFRA' ? { skipped: 'too slow' } : { medianMs: 1 }),
    };
    const { jobs, skipped } = liveJobs([config(1, 'cnn', 'KFLR'), config(1, 'cnn', 'KFRA')], file);
    expect(jobs).toEqual([{ threads: 1, workload: 'cnn', configuration: 'KFLR' }]);
    expect(skipped).toEqual(new Map([[referenceKey(1, 'cnn', 'KFRA'), "too slow (the reference file's record; not run live)"]]));
  });
});

describe('findLiveSetup', () => {
  const saved = { dir: process.env['BACKPACK_REFERENCE_DIR'], site: process.env['BACKPACK_REFERENCE_SITE'] };
  afterEach(() => {
    for (const [name, value] of [['BACKPACK_REFERENCE_DIR', saved.dir], ['BACKPACK_REFERENCE_SITE', saved.site]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('says what is missing and the set-up line of the reference folder', () => {
    process.env['BACKPACK_REFERENCE_DIR'] = '/nonexistent/reference';
    process.env['BACKPACK_REFERENCE_SITE'] = '/nonexistent/site';
    const { setup, problem } = findLiveSetup();
    expect(setup).toBeUndefined();
    expect(problem).toContain('/nonexistent/reference/bench_ref.py');
    expect(problem).toContain('/nonexistent/site/backpack');
    expect(problem).toContain(
      'UNFOLDND_GITDIR=<git dir of f-dangel/unfoldNd> EINOPS_GITDIR=<git dir of arogozhnikov/einops> ' +
        '/nonexistent/reference/setup.sh <git dir of f-dangel/backpack> /nonexistent/site',
    );
  });
});
