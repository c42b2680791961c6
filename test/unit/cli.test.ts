/**
 * Bad command-line input (issue 2, item 9): `main()` called in-process
 * returns exit 2 and prints one line naming the flag, and no thread starts.
 *
 * runMachine is replaced by a spy: if bad input ever reached it, the spy
 * records the call (and no pool is built). The thread count of this process
 * is checked too.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { buildProgram, main } from '../../src/cli/main.ts';
import { runMachine } from '../../src/machine/machine.ts';
import { MUTANT_NAMES } from '../../src/machine/mutants.ts';

vi.mock('../../src/machine/machine.ts', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/machine/machine.ts')>();
  return {
    ...mod,
    runMachine: vi.fn(async () => {
      throw new Error('runMachine reached (spy): a machine would have started');
    }),
  };
});

/** A command's whole help, with the text added after the options. */
function helpOf(c: Command): string {
  let text = '';
  c.configureOutput({ writeOut: (s) => (text += s) });
  c.outputHelp();
  return text;
}

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
  [['--json', ''], '--json'],
  [['--json', tmpdir()], '--json'],
  [['--json', '/proc/hvaemu-x.json'], '--json'],
  [['--duration', '500us'], '--duration'],
  [['--no-such-flag'], '--no-such-flag'],
  [['--cpu', '2'], '--cpus'],
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

describe('hvaemu: messages that help', () => {
  it('a mistyped option or command gets a suggestion, on one line', async () => {
    expect(await main(['run', '--cpu', '2'])).toBe(2);
    expect(errText()).toBe("hvaemu: unknown option '--cpu' (did you mean --cpus?)\n");
    stderr.mockClear();
    expect(await main(['rn'])).toBe(2);
    expect(errText()).toBe("hvaemu: unknown command 'rn' (did you mean run?)\n");
  });

  it('--duration 500us names the minimum', async () => {
    expect(await main(['run', '--duration', '500us'])).toBe(2);
    expect(errText()).toMatch(/^hvaemu: --duration: must be at least 50ms \(got '500us'\)\n$/);
  });

  it("every command's help gives the exit codes, 2 among them", () => {
    const program = buildProgram(() => {});
    const names = program.commands.map((c) => c.name());
    expect(names).toEqual(expect.arrayContaining(['run', 'soak', 'mutants', 'sweep']));
    for (const c of program.commands) {
      const help = helpOf(c);
      expect(help, c.name()).toMatch(/2 bad usage/);
      expect(help, c.name()).toMatch(/130 or 143 interrupted/);
    }
    const mutants = program.commands.find((c) => c.name() === 'mutants')!.helpInformation();
    expect(mutants).toMatch(/--no-widen[\s\S]*default: widened/);
    expect(mutants).toMatch(
      new RegExp(`--only <names>[\\s\\S]*default: all ${MUTANT_NAMES.length}:`),
    );
    const sweep = program.commands.find((c) => c.name() === 'sweep')!;
    expect(sweep.options.find((o) => o.long === '--out')?.mandatory).toBe(true);
    expect(sweep.helpInformation()).toMatch(/--out <dir>\s+results folder \(required/);
  });

  it('--list-points names the flags it ignores, in one warning line', async () => {
    expect(await main(['run', '--list-points', '--cpus', '3', '--duration', '2s'])).toBe(0);
    expect(errText()).toBe('hvaemu: warning: --list-points: ignoring --cpus, --duration\n');
    expect(runMachine).not.toHaveBeenCalled();
  });

  it('--protocol unpatched --mutant X: one warning line, and the run goes on', async () => {
    await main(['run', '--protocol', 'unpatched', '--mutant', 'plain-inc', '--duration', '1s']);
    const warnings = errText()
      .split('\n')
      .filter((l) => l.includes('warning'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^hvaemu: warning: --mutant plain-inc with --protocol unpatched/);
    expect(runMachine).toHaveBeenCalledTimes(1);
  });

  it('duplicate sweep values: one warning line naming the flag', async () => {
    // a usage error after the lists are read: nothing runs
    expect(await main(['sweep', '--cpus', '2,2,4', '--out', '/proc/hvaemu-no'])).toBe(2);
    expect(errText()).toMatch(/^hvaemu: warning: --cpus: '2' given more than once \(run once\)\n/);
    expect(runMachine).not.toHaveBeenCalled();
  });

  it('mutants --only with a name twice warns; --json "" is a usage error', async () => {
    expect(await main(['mutants', '--only', 'plain-inc,plain-inc', '--json', ''])).toBe(2);
    expect(errText()).toBe(
      'hvaemu: warning: --only: a mutant named twice is hunted once\nhvaemu: --json: empty file name (a path, or - for standard output)\n',
    );
  });
});

describe('hvaemu run --json: the start-up check', () => {
  it('an existing file passes, is left as it was, and nothing is left behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvaemu-cli-'));
    try {
      const file = join(dir, 'r.json');
      writeFileSync(file, 'keep');
      // the spy throws: an internal error, after the check
      expect(await main(['run', '--duration', '1s', '--json', file])).toBe(4);
      expect(runMachine).toHaveBeenCalledTimes(1);
      expect(readFileSync(file, 'utf8')).toBe('keep');
      expect(readdirSync(dir)).toEqual(['r.json']);
      rmSync(file);
      expect(await main(['run', '--duration', '1s', '--json', file])).toBe(4);
      expect(existsSync(file)).toBe(false);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
