import { describe, expect, it } from 'vitest';
import { main, runs } from '../cnn/main.js';

/** A stream that records what is written; a terminal when `tty`. */
function fakeStream(tty: boolean): { writes: string[]; isTTY: boolean; columns: number; write: (text: string) => void } {
  const writes: string[] = [];
  return { writes, isTTY: tty, columns: 200, write: (text) => void writes.push(text) };
}

describe('examples: progress of the backward passes', () => {
  it('draws one frame per backward pass on a terminal, keeps report lines above the bar, and clears it at the end', () => {
    const tty = fakeStream(true);
    const lines: string[] = [];
    main(['--backend', 'cpu', '--batch-size', '2'], (line) => lines.push(line), tty);
    const frames = tty.writes.filter((w) => w !== '\r\x1b[2K');
    // Each pass's frame is drawn when it starts and again after every report line printed during it.
    const distinct = frames.filter((frame, i) => frame !== frames[i - 1]);
    expect(distinct).toHaveLength(runs.length);
    expect(distinct[0]).toBe('\r\x1b[2Kcnn [....................] 0/9 backward pass with BatchGrad');
    expect(distinct[8]).toBe('\r\x1b[2Kcnn [##################..] 8/9 backward pass with DiagHessian, BatchDiagHessian');
    expect(tty.writes.at(-1)).toBe('\r\x1b[2K');
    // The report is the same as without a terminal, where nothing is written to the stream.
    const quiet = fakeStream(false);
    const plain: string[] = [];
    main(['--backend', 'cpu', '--batch-size', '2'], (line) => plain.push(line), quiet);
    expect(quiet.writes).toEqual([]);
    expect(lines).toEqual(plain);
  });
});
