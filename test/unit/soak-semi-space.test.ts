/**
 * The soak fixes each machine thread's V8 young generation (memstat.ts
 * fix_young_generation): a worker created while it is fixed has a new space
 * of exactly two semi-spaces, which does not grow however much survives; one
 * created after the undo is sized by V8 again.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/parse.ts';
import { parseSemiSpace } from '../../src/cli/soak.ts';
import { fix_young_generation } from '../../src/soak/memstat.ts';

const MB = 1024 * 1024;
/** A worker that keeps a share of what it allocates (survivors: V8 grows a free new space) and reports its new space. */
const CHURN = `
const { parentPort } = require('node:worker_threads');
const v8 = require('node:v8');
const keep = [];
let max = 0;
for (let round = 0; round < 300; round++) {
  for (let i = 0; i < 20000; i++) {
    const o = { i, a: [i, i + 1] };
    if (i % 50 === 0) keep.push(o);
  }
  if (keep.length > 40000) keep.splice(0, 20000);
  const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
  max = Math.max(max, s.space_size);
}
parentPort.postMessage(max);
`;

function newSpaceMax(): Promise<number> {
  const w = new Worker(CHURN, { eval: true });
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker did not answer in 20 s')), 20_000);
    w.once('message', (m: number) => {
      clearTimeout(timer);
      resolve(m);
    });
    w.once('error', reject);
  }).finally(() => w.terminate());
}

describe('fix_young_generation', () => {
  it('gives the threads created meanwhile a new space of two semi-spaces that does not grow', async () => {
    const unfix = fix_young_generation(2);
    let fixed: number;
    try {
      fixed = await newSpaceMax();
    } finally {
      unfix();
    }
    expect(fixed).toBe(2 * 2 * MB);
    // V8 sizes it again after the undo: larger than the fixed one for the same churn
    expect(await newSpaceMax()).toBeGreaterThan(4 * MB);
  });

  it('leaves V8 alone with 0', () => {
    const undo = fix_young_generation(0);
    expect(undo()).toBeUndefined();
  });
});

describe('--semi-space', () => {
  it('takes 0 to 64 MB and refuses the rest in one line', () => {
    expect(parseSemiSpace('4')).toBe(4);
    expect(parseSemiSpace('0')).toBe(0);
    for (const bad of ['-1', '65', 'x']) {
      expect(() => parseSemiSpace(bad)).toThrow(UsageError);
    }
    expect(() => parseSemiSpace('65')).toThrow(
      /^--semi-space: must be 0 \(V8's own sizing\) to 64 MB \(got 65\)$/,
    );
  });
});
