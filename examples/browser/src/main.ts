/**
 * The page: controls, the training loop and what it draws. The state is
 * also published as `window.__demo`, which the browser test reads.
 */
import { backendLabels, loadBackend, webglUnavailable, type BackendChoice } from './backends.js';
import { drawHistogram, drawLossCurve, drawPixelImage } from './draw.js';
import { histogram, type Histogram } from './histogram.js';
import type { Activation, DpSgdTrainer } from './train.js';

/** Everything the page shows, as plain JSON. */
export interface DemoState {
  status: 'loading' | 'ready' | 'training' | 'done' | 'stopped' | 'error';
  /** The message of the last error, when status is 'error'. */
  error: string | undefined;
  backend: BackendChoice;
  /** What runs the kernels, e.g. `tfjs (wasm), SIMD, 1 thread`. */
  engine: string;
  /** Why the WebGL choice is disabled, if it is. */
  webglUnavailable: string | undefined;
  batchSize: number;
  clipNorm: number;
  steps: number;
  step: number;
  /** Mean training loss of each step so far. */
  losses: number[];
  /** Mean milliseconds per DP-SGD step over the run, the first (warm-up) step left out when there are more. */
  msPerStep: number;
  /** Milliseconds of the last curvature pass. */
  curvatureMs: number;
  normsBefore: number[];
  normsAfter: number[];
  histograms: { before: Histogram; after: Histogram } | undefined;
  /** The step after which the curvature was computed last. */
  curvatureStep: number;
  ggn: number[] | undefined;
  hessian: number[] | undefined;
}

declare global {
  interface Window {
    __demo: DemoState;
  }
}

const BINS = 20;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

const ui = {
  form: element<HTMLFormElement>('controls'),
  backend: element<HTMLSelectElement>('backend'),
  activation: element<HTMLSelectElement>('activation'),
  batchSize: element<HTMLInputElement>('batch-size'),
  clipNorm: element<HTMLInputElement>('clip-norm'),
  noise: element<HTMLInputElement>('noise'),
  learningRate: element<HTMLInputElement>('learning-rate'),
  steps: element<HTMLInputElement>('steps'),
  curvatureEvery: element<HTMLInputElement>('curvature-every'),
  seed: element<HTMLInputElement>('seed'),
  train: element<HTMLButtonElement>('train'),
  stop: element<HTMLButtonElement>('stop'),
  status: element<HTMLDivElement>('status'),
  loss: element<HTMLCanvasElement>('loss'),
  normsBefore: element<HTMLCanvasElement>('norms-before'),
  normsAfter: element<HTMLCanvasElement>('norms-after'),
  ggn: element<HTMLCanvasElement>('ggn'),
  hessian: element<HTMLCanvasElement>('hessian'),
  ggnCaption: element<HTMLElement>('ggn-caption'),
  hessianCaption: element<HTMLElement>('hessian-caption'),
};

const state: DemoState = {
  status: 'loading',
  error: undefined,
  backend: 'cpu',
  engine: '',
  webglUnavailable: webglUnavailable(),
  batchSize: 0,
  clipNorm: 0,
  steps: 0,
  step: 0,
  losses: [],
  msPerStep: 0,
  curvatureMs: 0,
  normsBefore: [],
  normsAfter: [],
  histograms: undefined,
  curvatureStep: 0,
  ggn: undefined,
  hessian: undefined,
};
window.__demo = state;

for (const [choice, label] of Object.entries(backendLabels) as [BackendChoice, string][]) {
  const unavailable = choice === 'tfjs-webgl' ? state.webglUnavailable : undefined;
  const option = new Option(unavailable === undefined ? label : `${label}: unavailable, ${unavailable}`, choice);
  option.disabled = unavailable !== undefined;
  ui.backend.add(option);
}

function showStatus(): void {
  const { status, engine, step, steps, losses, msPerStep, curvatureMs, curvatureStep } = state;
  ui.status.dataset['status'] = status;
  ui.status.dataset['step'] = String(step);
  if (status === 'error') {
    ui.status.textContent = `Error: ${state.error}`;
    return;
  }
  if (status === 'loading' || status === 'ready') {
    ui.status.textContent = status === 'loading' ? 'Loading…' : 'Ready: choose a backend and press Train.';
    return;
  }
  const loss = losses.length === 0 ? '' : ` · loss ${losses[0]!.toFixed(3)} → ${losses[losses.length - 1]!.toFixed(3)}`;
  const timing = step === 0 ? '' : ` · ${msPerStep.toFixed(1)} ms per step`;
  const curvature = curvatureStep === 0 ? '' : ` · curvature pass ${curvatureMs.toFixed(1)} ms (after step ${curvatureStep})`;
  ui.status.textContent = `${engine} · ${status} · step ${step}/${steps}${loss}${timing}${curvature}`;
}

function draw(): void {
  drawLossCurve(ui.loss, state.losses, state.steps);
  if (state.histograms !== undefined) {
    const clipped = state.normsBefore.filter((norm, n) => state.normsAfter[n]! < norm).length;
    drawHistogram(ui.normsBefore, state.histograms.before, state.clipNorm, '#f59e0b', `${state.normsBefore.length} samples`);
    drawHistogram(ui.normsAfter, state.histograms.after, state.clipNorm, '#10b981', `${clipped} of them clipped`);
  }
  if (state.ggn !== undefined && state.hessian !== undefined) {
    drawPixelImage(ui.ggn, state.ggn);
    drawPixelImage(ui.hessian, state.hessian);
    const range = (values: number[]) => `values ${Math.min(...values).toPrecision(3)} to ${Math.max(...values).toPrecision(3)}`;
    ui.ggnCaption.textContent = `GGN diagonal of the first layer per input pixel (Σ over hidden units), after step ${state.curvatureStep}: ${range(state.ggn)}.`;
    ui.hessianCaption.textContent = `Hessian diagonal, likewise: ${range(state.hessian)}.${ui.activation.value === 'relu' ? ' With ReLU it equals the GGN diagonal.' : ''}`;
  }
}

function readNumber(input: HTMLInputElement, name: string): number {
  const value = Number(input.value);
  if (input.value.trim() === '' || !Number.isFinite(value)) throw new RangeError(`${name} must be a number, got '${input.value}'`);
  return value;
}

function readCount(input: HTMLInputElement, name: string): number {
  const value = readNumber(input, name);
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** Lets the browser paint and handle clicks between steps. */
const nextTask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

const trainModule = import('./train.js');
let trainer: DpSgdTrainer | undefined;
let stopRequested = false;

async function run(): Promise<void> {
  ui.train.disabled = true;
  ui.stop.disabled = false;
  stopRequested = false;
  try {
    const choice = ui.backend.value as BackendChoice;
    const options = {
      activation: ui.activation.value as Activation,
      batchSize: readNumber(ui.batchSize, 'batch size'),
      clipNorm: readNumber(ui.clipNorm, 'clip norm C'),
      noiseMultiplier: readNumber(ui.noise, 'noise σ'),
      learningRate: readNumber(ui.learningRate, 'learning rate'),
      seed: readNumber(ui.seed, 'seed'),
    };
    const steps = readCount(ui.steps, 'steps');
    const curvatureEvery = readCount(ui.curvatureEvery, 'curvature every');
    Object.assign(state, { status: 'loading', backend: choice, error: undefined } satisfies Partial<DemoState>);
    showStatus();
    const [{ DpSgdTrainer }, { backend, dtype, engine }] = await Promise.all([trainModule, loadBackend(choice)]);
    trainer?.dispose();
    trainer = new DpSgdTrainer({ ...options, backend, dtype });
    Object.assign(state, {
      status: 'training',
      engine,
      batchSize: options.batchSize,
      clipNorm: options.clipNorm,
      steps,
      step: 0,
      losses: [],
      msPerStep: 0,
      curvatureStep: 0,
      histograms: undefined,
      ggn: undefined,
      hessian: undefined,
    } satisfies Partial<DemoState>);
    const times: number[] = [];
    while (state.step < steps && !stopRequested) {
      const start = performance.now();
      const result = trainer.train();
      times.push(performance.now() - start);
      const timed = times.length > 1 ? times.slice(1) : times;
      const upper = Math.max(options.clipNorm, ...result.normsBefore);
      state.losses.push(result.loss);
      Object.assign(state, {
        step: result.step,
        msPerStep: timed.reduce((a, b) => a + b, 0) / timed.length,
        normsBefore: Array.from(result.normsBefore),
        normsAfter: Array.from(result.normsAfter),
        // One range for both, so that the bars line up.
        histograms: { before: histogram(result.normsBefore, BINS, upper), after: histogram(result.normsAfter, BINS, upper) },
      } satisfies Partial<DemoState>);
      if (result.step === 1 || result.step % curvatureEvery === 0 || result.step === steps) {
        const curvatureStart = performance.now();
        const { ggn, hessian } = trainer.curvature();
        Object.assign(state, {
          curvatureMs: performance.now() - curvatureStart,
          curvatureStep: result.step,
          ggn: Array.from(ggn),
          hessian: Array.from(hessian),
        } satisfies Partial<DemoState>);
      }
      showStatus();
      draw();
      await nextTask();
    }
    state.status = stopRequested ? 'stopped' : 'done';
  } catch (error) {
    state.status = 'error';
    state.error = error instanceof Error ? error.message : String(error);
    console.error(error);
  } finally {
    ui.train.disabled = false;
    ui.stop.disabled = true;
    showStatus();
  }
}

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  void run();
});
ui.stop.addEventListener('click', () => {
  stopRequested = true;
});

showStatus();
ui.train.disabled = true;
trainModule.then(
  () => {
    state.status = 'ready';
    ui.train.disabled = false;
    showStatus();
  },
  (error: unknown) => {
    state.status = 'error';
    state.error = `could not load the training code: ${error instanceof Error ? error.message : String(error)}`;
    showStatus();
  },
);
