import { describe, expect, it } from 'vitest';
import { createProgress, progressBar, type ProgressStream } from '../src/cli/progress.js';

/** A stream that records what is written; a terminal of `columns` when `tty`. */
function fakeStream(tty: boolean, columns = 80): ProgressStream & { writes: string[] } {
  const writes: string[] = [];
  return { writes, isTTY: tty, columns, write: (text: string) => writes.push(text) };
}

describe('progress bar', () => {
  it('draws frames in place on a terminal: \\r, clear the line, label, bar, counts and text', () => {
    const stream = fakeStream(true);
    const progress = createProgress({ total: 4, stream, label: 'cnn', width: 8 });
    expect(progress.drawing).toBe(true);
    progress.update(0, 'BatchGrad');
    progress.update(1);
    progress.update(3, 'KFRA');
    progress.done('4 passes in 1.00 s');
    expect(stream.writes).toEqual([
      '\r\x1b[2Kcnn [........] 0/4 BatchGrad',
      '\r\x1b[2Kcnn [##......] 1/4 BatchGrad',
      '\r\x1b[2Kcnn [######..] 3/4 KFRA',
      '\r\x1b[2K',
      '4 passes in 1.00 s\n',
    ]);
    // Done once: later calls write nothing.
    progress.update(4, 'late');
    progress.done('again');
    expect(stream.writes).toHaveLength(5);
  });

  it('cuts frames to the terminal width and clears the bar around lines printed meanwhile', () => {
    const stream = fakeStream(true, 30);
    const progress = createProgress({ total: 2, stream, width: 4 });
    progress.update(1, 'a rather long description of the step');
    const printed: string[] = [];
    progress.interrupt(() => printed.push('a report line'));
    progress.done();
    expect(printed).toEqual(['a report line']);
    const frame = '\r\x1b[2K[##..] 1/2 a rather long des…';
    expect(frame.length - '\r\x1b[2K'.length).toBe(29);
    expect(stream.writes).toEqual([frame, '\r\x1b[2K', frame, '\r\x1b[2K']);
  });

  it('is quiet when the stream is no terminal: nothing but the final line', () => {
    const stream = fakeStream(false);
    const progress = createProgress({ total: 3, stream, label: 'seed' });
    expect(progress.drawing).toBe(false);
    for (let i = 0; i <= 3; i++) progress.update(i, `step ${i}`);
    const printed: string[] = [];
    progress.interrupt(() => printed.push('line'));
    expect(stream.writes).toEqual([]);
    expect(printed).toEqual(['line']);
    progress.done('3 steps done');
    expect(stream.writes).toEqual(['3 steps done\n']);
    const silent = fakeStream(false);
    const none = createProgress({ total: 1, stream: silent });
    none.update(1);
    none.done();
    expect(silent.writes).toEqual([]);
  });

  it('fills the bar in proportion, within bounds', () => {
    expect(progressBar(0, 4, 4)).toBe('[....]');
    expect(progressBar(2, 4, 4)).toBe('[##..]');
    expect(progressBar(9, 4, 4)).toBe('[####]');
    expect(progressBar(0, 0, 4)).toBe('[####]');
  });
});
