/**
 * Bad command-line input (issue 2, item 9): `main()` called in-process
 * returns exit 2 and prints one line naming the flag, and no thread starts.
 *
 * runMachine is replaced by a spy: if bad input ever reached it, the spy
 * records the call (and no pool is built). The thread count of this process
 * is checked too.
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { runMachine } from '../../src/machine/machine.ts';

vi.mock('../../src/machine/machine.ts', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/machine/machine.ts')>();
  return {
    ...mod,
    runMachine: vi.fn(async () => {
      throw new Error('runMachine reached (spy): a machine would have started');
    }),
  };
});

const osThreads = () =>
  Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);

let stderr: MockInstance;
let stdout: MockInstance;
const errText = () => stderr.mock.calls.map((c) => String(c[0])).join('');

beforeEach(() => {
  vi.mocked(runMachine).mockClear();
  stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(() => {
  stderr.mockRestore();
  stdout.mockRestore();
});

/** [argv after `run`, the flag the message must name] */
const BAD: [string[], string][] = [
  [['--cpus', '0'], '--cpus'],
  [['--cpus', '257'], '--cpus'],
  [['--cpus', '2.5'], '--cpus'],
  [['--cpus'], '--cpus'],
  [['--pages', '0'], '--pages'],
  [['--files', '1'], '--files'],
  [['--host-discard-rate', '-1'], '--host-discard-rate'],
  [['--host-discard-rate=-5'], '--host-discard-rate'],
  [['--host-discard-rate', 'fast'], '--host-discard-rate'],
  [['--protocol', 'fixed'], '--protocol'],
  [['--mutant', 'no-such-bug'], '--mutant'],
  [['--fault-address', 'physical'], '--fault-address'],
  [['--spinlock', 'mcs'], '--spinlock'],
  [['--duration', 'ten'], '--duration'],
  [['--duration', '10'], '--duration'],
  [['--duration', '0s'], '--duration'],
  [['--pagevec-size', '0'], '--pagevec-size'],
  [['--seed', '-3'], '--seed'],
  [['--delay', 'no-such-point=1ms'], '--delay'],
  [['--delay', 'fault-to-ref'], '--delay'],
  [['--delay', 'fault-to-ref=soon'], '--delay'],
  [['--stall-timeout', 'never'], '--stall-timeout'],
  [['--json', '/nonexistent-dir/r.json'], '--json'],
  [['--no-such-flag'], '--no-such-flag'],
];

describe('hvaemu run: bad input', () => {
  const threads0 = osThreads();
  for (const [args, flag] of BAD) {
    it(`run ${args.join(' ')} -> exit 2, one line naming ${flag}`, async () => {
      const code = await main(['run', '--duration', '1s', ...args]);
      expect(code).toBe(2);
      const text = errText();
      expect(text.endsWith('\n')).toBe(true);
      const lines = text.trimEnd().split('\n');
      expect(lines, text).toHaveLength(1);
      expect(lines[0]).toContain(flag);
      expect(lines[0]).toMatch(/^hvaemu: /);
      expect(runMachine).not.toHaveBeenCalled();
      expect(osThreads()).toBeLessThanOrEqual(threads0);
    });
  }

  it('an unknown command exits 2', async () => {
    expect(await main(['walk'])).toBe(2);
    expect(runMachine).not.toHaveBeenCalled();
  });
});

describe('hvaemu run: good input reaches the machine (the spy above can fail)', () => {
  it('passes the validated configuration to runMachine', async () => {
    const code = await main([
      'run',
      '--cpus',
      '3',
      '--duration',
      '1.5s',
      '--protocol',
      'unpatched',
      '--delay',
      'fault-to-ref=20us',
      '--seed',
      '7',
      '--quiet',
    ]);
    expect(runMachine).toHaveBeenCalledTimes(1);
    const cfg = vi.mocked(runMachine).mock.calls[0]![0];
    expect(cfg).toMatchObject({ cpus: 3, durationMs: 1500, protocol: 'unpatched', seed: 7 });
    expect(cfg.delaysUs[0]).toBe(20); // fault-to-ref is point 0
    expect(code).toBe(4); // the spy threw: an internal error
    expect(errText()).toContain('internal error');
  });
});
