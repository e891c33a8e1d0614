/**
 * The demo in real headless Chromium: build the page with Vite, serve dist/
 * on 127.0.0.1, press Train on each backend and check what the page shows
 * (its state is published as `window.__demo`). A screenshot of the last run
 * goes to screenshots/ (git-ignored).
 *
 * Without Chromium (/usr/bin/chromium, or the path in CHROMIUM_PATH) the
 * tests skip, saying how to install it; in CI (`CI` set) they fail with that
 * message instead.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import type { BackendChoice } from '../src/backends.js';
import type { DemoState } from '../src/main.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const screenshots = join(root, 'screenshots');

const missingChromium = existsSync(CHROMIUM)
  ? undefined
  : `${CHROMIUM} is missing: install Chromium with \`apt-get update && apt-get install -y chromium\` (or set CHROMIUM_PATH)`;

/** Steps per run: enough for the loss to fall clearly, few enough for the whole file to stay under a minute. */
const STEPS = { cpu: 40, 'tfjs-wasm': 40, 'tfjs-webgl': 8 } as const satisfies Record<BackendChoice, number>;
const BATCH_SIZE = 64;
const CLIP_NORM = 1;

let server: PreviewServer | undefined;
let context: BrowserContext | undefined;
let page: Page;
let userDataDir: string | undefined;
/** Losses of the backend-cpu run, which the tfjs runs (same seed) must follow. */
let cpuLosses: number[] = [];

/** Without Chromium: fails in CI, where the browser must be installed, and skips elsewhere; both say how to install it. */
function requireChromium(test: TestContext): void {
  if (missingChromium === undefined) return;
  if (process.env['CI'] !== undefined) throw new Error(missingChromium);
  test.skip(missingChromium);
}

/** Sets the controls, presses Train and waits for the run to end; returns the page's state. */
async function train(backend: BackendChoice): Promise<DemoState> {
  await page.selectOption('#backend', backend);
  await page.fill('#steps', String(STEPS[backend]));
  await page.fill('#batch-size', String(BATCH_SIZE));
  await page.fill('#clip-norm', String(CLIP_NORM));
  await page.fill('#curvature-every', '10');
  await page.click('#train');
  await page.waitForFunction(() => ['done', 'stopped', 'error'].includes(window.__demo.status), null, { timeout: 60_000 });
  const state = await page.evaluate(() => window.__demo);
  // A run that failed says why here, not through whichever field it left unset.
  if (state.status === 'error') expect.fail(`the ${backend} run ended in an error: ${state.error}`);
  return state;
}

/** Pixels of a canvas that are not transparent. */
function paintedPixels(id: string): Promise<number> {
  return page.evaluate((canvasId) => {
    const canvas = document.getElementById(canvasId) as HTMLCanvasElement;
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) painted++;
    return painted;
  }, id);
}

/** What every run must show, whatever the backend; `tolerance` is the float precision's. */
async function expectRun(state: DemoState, backend: BackendChoice, tolerance: number): Promise<void> {
  expect(state.error).toBeUndefined();
  expect(state.status).toBe('done');
  expect(state.step).toBe(STEPS[backend]);
  expect(state.losses).toHaveLength(STEPS[backend]);
  expect(state.losses.every(Number.isFinite)).toBe(true);
  expect(state.msPerStep).toBeGreaterThan(0);
  const status = await page.textContent('#status');
  expect(status).toContain(`step ${STEPS[backend]}/${STEPS[backend]}`);
  expect(status).toMatch(/\d+\.\d ms per step/);

  // Histograms of the last batch: every sample counted once, every clipped norm <= C.
  const { before, after } = state.histograms!;
  const total = (counts: number[]) => counts.reduce((a, b) => a + b, 0);
  expect(total(before.counts)).toBe(BATCH_SIZE);
  expect(total(after.counts)).toBe(BATCH_SIZE);
  expect(state.normsBefore).toHaveLength(BATCH_SIZE);
  expect(state.normsAfter).toHaveLength(BATCH_SIZE);
  expect(Math.max(...state.normsAfter)).toBeLessThanOrEqual(CLIP_NORM + 1e-6);
  expect(state.normsBefore.filter((norm) => norm > CLIP_NORM).length).toBeGreaterThan(0);
  state.normsAfter.forEach((norm, n) => expect(Math.abs(norm - Math.min(state.normsBefore[n]!, CLIP_NORM))).toBeLessThanOrEqual(tolerance));

  // Curvature images: 784 finite non-negative values; with ReLU the Hessian diagonal is the GGN diagonal.
  const { ggn, hessian } = state;
  for (const image of [ggn!, hessian!]) {
    expect(image).toHaveLength(784);
    expect(image.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    expect(Math.max(...image)).toBeGreaterThan(0);
  }
  const largest = Math.max(...ggn!);
  ggn!.forEach((v, p) => expect(Math.abs(v - hessian![p]!)).toBeLessThanOrEqual(tolerance * largest));
  expect(state.curvatureStep).toBe(STEPS[backend]);

  for (const canvas of ['loss', 'norms-before', 'norms-after', 'ggn', 'hessian']) {
    expect(await paintedPixels(canvas), `#${canvas} is drawn`).toBeGreaterThan(100);
  }
}

describe('the browser demo in headless Chromium', () => {
  beforeAll(async () => {
    if (missingChromium !== undefined) return;
    await build({ root, configFile: join(root, 'vite.config.ts'), logLevel: 'warn' });
    // Port 0: the system picks a free one.
    server = await preview({ root, configFile: join(root, 'vite.config.ts'), logLevel: 'warn', preview: { host: '127.0.0.1', port: 0 } });
    const url = server.resolvedUrls?.local[0];
    if (url === undefined) throw new Error('vite preview did not say where it serves');
    userDataDir = mkdtempSync(join(tmpdir(), 'backpack-ts-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 820 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(url);
    await page.waitForFunction(() => window.__demo?.status !== 'loading', null, { timeout: 30_000 });
    expect(problems).toEqual([]);
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (userDataDir !== undefined) rmSync(userDataDir, { recursive: true, force: true });
  });

  it('trains on backend-cpu in float64: the loss falls, histograms and curvature images are right', async (test) => {
    requireChromium(test);
    expect(await page.evaluate(() => window.__demo.status)).toBe('ready');
    await page.fill('#steps', '0');
    await page.click('#train');
    await page.waitForFunction(() => window.__demo.status === 'error');
    expect(await page.textContent('#status')).toBe('Error: steps must be a positive integer, got 0');

    const state = await train('cpu');
    expect(state.engine).toBe('cpu');
    await expectRun(state, 'cpu', 1e-9);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(state.losses.slice(0, 5))).toBeGreaterThan(2);
    expect(mean(state.losses.slice(-5))).toBeLessThan(0.75 * mean(state.losses.slice(0, 5)));
    cpuLosses = state.losses;
  });

  it('trains on backend-tfjs on WebGL (float32) when the browser has it, along the same losses', async (test) => {
    requireChromium(test);
    const unavailable = await page.evaluate(() => window.__demo.webglUnavailable);
    if (unavailable !== undefined) {
      expect(await page.locator('#backend option[value="tfjs-webgl"]').isDisabled()).toBe(true);
      test.skip(`no WebGL run: ${unavailable} (the page disables the option)`);
    }
    const state = await train('tfjs-webgl');
    expect(state.engine).toMatch(/^tfjs \(webgl\), WebGL [12]$/);
    await expectRun(state, 'tfjs-webgl', 1e-4);
    state.losses.forEach((loss, i) => expect(Math.abs(loss - cpuLosses[i]!)).toBeLessThan(1e-3));
  });

  it('trains on backend-tfjs on WebAssembly (float32) along the same losses, and saves a screenshot', async (test) => {
    requireChromium(test);
    const state = await train('tfjs-wasm');
    expect(state.engine).toMatch(/^tfjs \(wasm\), (SIMD|no SIMD), /);
    await expectRun(state, 'tfjs-wasm', 1e-4);
    // Same seed: same initial weights, batches and noise; only float32 rounding differs.
    state.losses.forEach((loss, i) => expect(Math.abs(loss - cpuLosses[i]!)).toBeLessThan(1e-3));

    mkdirSync(screenshots, { recursive: true });
    const file = join(screenshots, 'demo.png');
    await page.screenshot({ path: file, fullPage: true });
    expect(statSync(file).size).toBeGreaterThan(20_000);
  });
});
