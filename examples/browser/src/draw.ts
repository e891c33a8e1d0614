/** Drawing on the page's canvases: the loss curve, the norm histograms and the 28 x 28 curvature images. */
import type { Histogram } from './histogram.js';

const AXIS = '#6b7280';
const TEXT = '#111827';

/** The canvas's 2-D context, cleared, with its size in CSS pixels. */
function clear(canvas: HTMLCanvasElement): { context: CanvasRenderingContext2D; width: number; height: number } {
  const context = canvas.getContext('2d');
  if (context === null) throw new Error(`canvas #${canvas.id} has no 2-D context`);
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.font = '11px system-ui, sans-serif';
  return { context, width: canvas.width, height: canvas.height };
}

/** Loss per step as a line, the y axis from 0 to the largest loss. */
export function drawLossCurve(canvas: HTMLCanvasElement, losses: readonly number[], totalSteps: number): void {
  const { context, width, height } = clear(canvas);
  const [left, bottom, top] = [34, height - 18, 8];
  const highest = Math.max(...losses, 1e-12);
  context.strokeStyle = AXIS;
  context.fillStyle = TEXT;
  context.strokeRect(left, top, width - left - 6, bottom - top);
  context.fillText(highest.toFixed(2), 2, top + 8);
  context.fillText('0', left - 10, bottom);
  context.fillText(`step ${totalSteps}`, width - 52, height - 4);
  context.beginPath();
  context.strokeStyle = '#2563eb';
  losses.forEach((loss, i) => {
    const x = left + ((i + 1) / Math.max(totalSteps, 1)) * (width - left - 6);
    const y = bottom - (loss / highest) * (bottom - top);
    if (i === 0) context.moveTo(x, y);
    else context.lineTo(x, y);
  });
  context.stroke();
}

/** Bars of a histogram with a dashed line at the clipping norm C, the tallest bar's count and a note at the top. */
export function drawHistogram(canvas: HTMLCanvasElement, bins: Histogram, clipNorm: number, color: string, note: string): void {
  const { context, width, height } = clear(canvas);
  const [left, bottom, top] = [4, height - 16, 4];
  const upper = bins.edges[bins.edges.length - 1]!;
  const tallest = Math.max(...bins.counts, 1);
  const barWidth = (width - 2 * left) / bins.counts.length;
  context.fillStyle = color;
  bins.counts.forEach((count, i) => {
    const barHeight = (count / tallest) * (bottom - top);
    context.fillRect(left + i * barWidth + 1, bottom - barHeight, barWidth - 2, barHeight);
  });
  const clipX = left + (clipNorm / upper) * (width - 2 * left);
  context.strokeStyle = TEXT;
  context.setLineDash([4, 3]);
  context.beginPath();
  context.moveTo(clipX, top);
  context.lineTo(clipX, bottom);
  context.stroke();
  context.setLineDash([]);
  context.fillStyle = TEXT;
  context.fillText('C', clipX + 3, top + 10);
  // On a white box: the notes sit over the bars.
  context.fillStyle = 'rgba(255, 255, 255, 0.85)';
  context.fillRect(width - 134, top, 130, 30);
  context.fillStyle = TEXT;
  context.fillText(`tallest bar: ${tallest}`, width - 130, top + 12);
  context.fillText(note, width - 130, top + 26);
  context.fillText('0', left, height - 3);
  context.fillText(upper.toPrecision(3), width - 34, height - 3);
}

/**
 * A 28 x 28 image, each value a square on a square-root scale (so that small
 * values stay visible next to the few largest): dark to yellow for values
 * >= 0; when some are negative (a Hessian diagonal with Tanh), white at 0,
 * red for positive and blue for negative values.
 */
export function drawPixelImage(canvas: HTMLCanvasElement, values: ArrayLike<number>, side = 28): void {
  const { context, width } = clear(canvas);
  const cell = width / side;
  let largest = 0;
  let signed = false;
  for (let i = 0; i < values.length; i++) {
    largest = Math.max(largest, Math.abs(values[i]!));
    signed ||= values[i]! < 0;
  }
  for (let i = 0; i < side * side; i++) {
    const value = values[i]!;
    const t = largest > 0 ? Math.sqrt(Math.abs(value) / largest) : 0;
    const fade = Math.round(255 * (1 - t));
    const [r, g, b] = !signed
      ? [Math.round(20 + 235 * t), Math.round(20 + 200 * t), Math.round(80 * (1 - t))]
      : value >= 0
        ? [255, fade, fade]
        : [fade, fade, 255];
    context.fillStyle = `rgb(${r}, ${g}, ${b})`;
    context.fillRect((i % side) * cell, Math.floor(i / side) * cell, Math.ceil(cell), Math.ceil(cell));
  }
}
