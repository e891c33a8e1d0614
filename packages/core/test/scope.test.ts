/**
 * Memory scopes: `tidy` disposes what it created except what it returns or
 * what was kept, also when it throws; counted on a wrapper around cpu that
 * records every handle created and disposed.
 */
import { describe, expect, it } from 'vitest';
import { cpu } from '@backpack-ts/backend-cpu';
import {
  CrossEntropyLoss,
  Generator,
  Linear,
  Sequential,
  Tanh,
  add,
  extend,
  keep,
  mul,
  tensor,
  tidy,
  type Backend,
  type Tensor,
} from '@backpack-ts/core';
import { countingBackend, type HandleCounts } from './helpers/backends.js';
import { values } from './helpers/tensors.js';

/** A fresh counting backend and a function creating one-element tensors on it. */
function setup(): { backend: Backend; counts: HandleCounts; make: (value: number) => Tensor } {
  const { backend, counts } = countingBackend(cpu);
  return { backend, counts, make: (value) => tensor([value], [1], { backend }) };
}

const live = (counts: HandleCounts) => counts.created - counts.disposed;

describe('tidy', () => {
  it('disposes intermediates but not the returned tensor nor tensors created outside', () => {
    const { counts, make } = setup();
    const outside = make(1);
    const created: Tensor[] = [];
    const result = tidy(() => {
      const a = make(2);
      const b = add(a, outside);
      created.push(a, b);
      return mul(b, 3);
    });
    expect(created.map((x) => x.isDisposed)).toEqual([true, true]);
    expect([outside.isDisposed, result.isDisposed]).toEqual([false, false]);
    expect(values(result)).toEqual([9]);
    expect(counts.disposed).toBe(2);
    expect(live(counts)).toBe(2);
  });

  it('keeps every tensor reachable from the result: arrays, plain objects and maps, nested', () => {
    const { counts, make } = setup();
    let intermediate: Tensor | undefined;
    const result = tidy(() => {
      intermediate = make(0);
      return { x: make(1), list: [make(2), { deep: make(3) }], map: new Map([['w', make(4)]]), label: 'not a tensor', n: 5 };
    });
    expect(intermediate!.isDisposed).toBe(true);
    const kept = [result.x, result.list[0] as Tensor, (result.list[1] as { deep: Tensor }).deep, result.map.get('w')!];
    expect(kept.map((x) => [x.isDisposed, values(x)[0]])).toEqual([
      [false, 1],
      [false, 2],
      [false, 3],
      [false, 4],
    ]);
    expect(counts.disposed).toBe(1);
  });

  it('returns values read back as typed arrays, however long, next to the tensors it keeps', () => {
    const { make } = setup();
    // One more element than V8 can list as an array: searching it for tensors would throw.
    const long = new Uint8Array(2 ** 27 + 1);
    const result = tidy(() => ({ read: make(7).toArray(), long, kept: make(8) }));
    expect(Array.from(result.read)).toEqual([7]);
    expect(result.long).toBe(long);
    expect(values(result.kept)).toEqual([8]);
  });

  it('returns a tensor created outside unchanged', () => {
    const { counts, make } = setup();
    const outside = make(1);
    expect(tidy(() => outside)).toBe(outside);
    expect(outside.isDisposed).toBe(false);
    expect(counts.disposed).toBe(0);
  });

  it('does not dispose kept tensors', () => {
    const { counts, make } = setup();
    let kept: Tensor | undefined;
    let dropped: Tensor | undefined;
    tidy(() => {
      kept = keep(make(1));
      dropped = make(2);
    });
    expect([kept!.isDisposed, dropped!.isDisposed]).toEqual([false, true]);
    expect(counts.disposed).toBe(1);
  });

  it('nested: the inner result moves to the outer scope, which disposes it unless it returns it too', () => {
    const { counts, make } = setup();
    let inner: Tensor | undefined;
    const outer = tidy(() => {
      inner = tidy(() => add(make(1), 1));
      expect(inner.isDisposed).toBe(false);
      return tidy(() => add(inner!, 1));
    });
    expect(inner!.isDisposed).toBe(true);
    expect(outer.isDisposed).toBe(false);
    expect(values(outer)).toEqual([3]);
    expect(live(counts)).toBe(1);
  });

  it('disposes everything created when the function throws, and rethrows', () => {
    const { counts, make } = setup();
    const created: Tensor[] = [];
    let kept: Tensor | undefined;
    expect(() =>
      tidy(() => {
        created.push(make(1));
        created.push(tidy(() => add(created[0]!, 1)));
        kept = keep(make(3));
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(created.every((x) => x.isDisposed)).toBe(true);
    expect(kept!.isDisposed).toBe(false);
    expect(live(counts)).toBe(1);
  });

  it('an error caught inside an outer tidy disposes only the inner scope', () => {
    const { counts, make } = setup();
    const result = tidy(() => {
      const before = make(1);
      const failing = () => {
        add(before, make(2));
        throw new Error('inner');
      };
      expect(() => tidy(failing)).toThrow('inner');
      expect(before.isDisposed).toBe(false);
      return add(before, 1);
    });
    expect(values(result)).toEqual([2]);
    expect(live(counts)).toBe(1);
  });
});

describe('Tensor.dispose', () => {
  it('releases the storage once, and a disposed tensor refuses to be used', () => {
    const { counts, make } = setup();
    const x = make(1);
    x.dispose();
    x.dispose();
    expect(counts.disposed).toBe(1);
    expect(() => x.toArray()).toThrow('toArray: the tensor of shape [1] was disposed');
    expect(() => add(x, 1)).toThrow(/add: the tensor of shape \[1\] was disposed/);
  });
});

describe('the backward engine', () => {
  it('frees everything it creates except the gradients it stores', () => {
    const { backend, counts } = setup();
    const layer = (inFeatures: number, outFeatures: number, seed: number) =>
      new Linear(inFeatures, outFeatures, { backend, dtype: 'float64', generator: new Generator(seed) });
    const model = extend(new Sequential(layer(3, 4, 1), new Tanh(), layer(4, 2, 2)));
    const lossFunction = extend(new CrossEntropyLoss());
    const input = tensor([0.1, -0.2, 0.3, 0.4, 0.5, -0.6], [2, 3], { backend });
    const target = tensor([1, 0], [2], { backend, dtype: 'int32' });

    const first = lossFunction.forward(model.forward(input), target);
    const beforeFirst = live(counts);
    first.backward();
    expect(live(counts) - beforeFirst).toBe(model.parameters().length);

    // The second pass replaces each accumulated gradient: the old one is released.
    const oldGrads = model.parameters().map((p) => p.grad!);
    const second = lossFunction.forward(model.forward(input), target);
    const beforeSecond = live(counts);
    second.backward();
    expect(live(counts)).toBe(beforeSecond);
    expect(oldGrads.every((g) => g.isDisposed)).toBe(true);
  });
});
