/**
 * The recording contract between ops and the engine: when a call is recorded,
 * what it records, and the leaf flag.
 */
import { cpu } from '@backpack-ts/backend-cpu';
import { describe, expect, it } from 'vitest';
import { enableGrad, isGradEnabled, isOpNode, noGrad, recordOp, tensor, type OpDerivatives } from '../src/index.js';

const derivatives: OpDerivatives = {
  vjp: (g) => [g],
  jvp: ([t]) => t!,
};

describe('recordOp', () => {
  it('records only when an input requires gradients and recording is on', () => {
    const x = tensor([1, 2], [2], { backend: cpu });
    const y = tensor([3, 4], [2], { backend: cpu });
    expect(recordOp('identity', [x], y, () => derivatives).gradFn).toBeUndefined();
    expect(y.requiresGrad).toBe(false);

    x.requiresGrad_();
    noGrad(() => recordOp('identity', [x], y, () => derivatives));
    expect(y.gradFn).toBeUndefined();

    const recorded = recordOp('identity', [x], y, () => derivatives, true);
    expect(isOpNode(recorded.gradFn)).toBe(true);
    expect(recorded.requiresGrad).toBe(true);
    const node = recorded.gradFn as { name: string; inputs: readonly unknown[]; mixesSamples: boolean };
    expect(node.name).toBe('identity');
    expect(node.inputs).toEqual([x]);
    expect(node.mixesSamples).toBe(true);
  });

  it('does not build the derivatives of a call it does not record', () => {
    let built = 0;
    const x = tensor([1], [1], { backend: cpu });
    recordOp('identity', [x], tensor([2], [1], { backend: cpu }), () => {
      built += 1;
      return derivatives;
    });
    expect(built).toBe(0);
  });
});

describe('grad mode', () => {
  it('noGrad and enableGrad nest and restore the mode, also when fn throws', () => {
    expect(isGradEnabled()).toBe(true);
    noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      enableGrad(() => expect(isGradEnabled()).toBe(true));
      expect(isGradEnabled()).toBe(false);
      expect(() => enableGrad(() => {
        throw new Error('boom');
      })).toThrow('boom');
      expect(isGradEnabled()).toBe(false);
    });
    expect(isGradEnabled()).toBe(true);
  });
});

describe('requiresGrad_', () => {
  it('sets and clears the flag of a leaf, and refuses a recorded result', () => {
    const x = tensor([1], [1], { backend: cpu }).requiresGrad_();
    expect(x.requiresGrad).toBe(true);
    x.requiresGrad_(false);
    expect(x.requiresGrad).toBe(false);
    x.requiresGrad_();
    const y = recordOp('identity', [x], tensor([1], [1], { backend: cpu }), () => derivatives);
    expect(() => y.requiresGrad_(false)).toThrow('requiresGrad_(): only leaf tensors can change');
  });
});
