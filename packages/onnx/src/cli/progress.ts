/**
 * A progress bar for long runs (the CLI's extensions, the examples' backward
 * passes): redrawn in place with `\r` when the stream is a terminal, silent
 * otherwise (logs and pipes get at most one final line).
 */

/** Where the bar is written: `process.stderr` fits, and so does a test's fake. */
export interface ProgressStream {
  /** Writes text as is (the bar writes no newline until it is done). */
  write(text: string): unknown;
  /** Whether the stream is a terminal; the bar is drawn only then. */
  readonly isTTY?: boolean;
  /** Terminal width; frames are cut to it (default 80). */
  readonly columns?: number;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Number of steps of the whole run. */
  readonly total: number;
  /** Where to draw (default `process.stderr`). */
  readonly stream?: ProgressStream;
  /** Text before the bar, e.g. the program's name. */
  readonly label?: string;
  /** Characters of the bar between the brackets (default 20). */
  readonly width?: number;
}

/** A running progress bar. */
export interface Progress {
  /** Whether frames are drawn (the stream is a terminal). */
  readonly drawing: boolean;
  /** Sets the number of steps done and the text after the counts, and redraws. */
  update(done: number, text?: string): void;
  /** Runs `write`, which prints lines of its own, with the bar cleared, then draws the bar again. */
  interrupt(write: () => void): void;
  /**
   * Ends the run: clears the bar and prints `finalLine`, if given, on its own
   * line (on a terminal and elsewhere alike). Later calls do nothing.
   */
  done(finalLine?: string): void;
}

/** Erases the terminal line the cursor is on and returns to its start. */
const CLEAR_LINE = '\r\x1b[2K';

/** `[#####.....]` for `done` of `total` steps, `width` characters inside the brackets. */
export function progressBar(done: number, total: number, width = 20): string {
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/**
 * A progress bar of `total` steps on `stream`. On a terminal every
 * {@link Progress.update} redraws one line in place (`\r`, then the line
 * cleared): `label [####......] 2/5 text`, cut to the terminal's width. On
 * anything else nothing is written but the final line of {@link Progress.done}.
 */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const drawing = stream.isTTY === true;
  const width = options.width ?? 20;
  const prefix = options.label === undefined ? '' : `${options.label} `;
  let done = 0;
  let text = '';
  let visible = false;
  let finished = false;

  const draw = () => {
    const columns = Math.max(20, (stream.columns ?? 80) - 1);
    const frame = `${prefix}${progressBar(done, options.total, width)} ${done}/${options.total}${text === '' ? '' : ` ${text}`}`;
    stream.write(CLEAR_LINE + (frame.length > columns ? `${frame.slice(0, columns - 1)}…` : frame));
    visible = true;
  };
  const clear = () => {
    if (visible) stream.write(CLEAR_LINE);
    visible = false;
  };

  return {
    drawing,
    update(steps, newText) {
      if (finished) return;
      done = steps;
      if (newText !== undefined) text = newText;
      if (drawing) draw();
    },
    interrupt(write) {
      const redraw = visible;
      clear();
      write();
      if (redraw && !finished) draw();
    },
    done(finalLine) {
      if (finished) return;
      finished = true;
      clear();
      if (finalLine !== undefined) stream.write(`${finalLine}\n`);
    },
  };
}
