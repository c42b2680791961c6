/**
 * Shrinking a controlled schedule's violation (hvaemu shrink): a schedule is
 * a pure function of its config, so a smaller failing schedule is a smaller
 * config that fails the same way. The recorded context switches become a
 * script (config.sched.script: at these steps switch to these actors, run
 * on otherwise), and delta debugging (ddmin, Zeller 2002) removes switches
 * while the scripted schedule still fails with the same violation kind; the
 * search is deterministic. The smallest failing script's report replays
 * like any other (the script is in its config).
 */
import type { Config } from '../config.ts';
import { type RunOptions, type RunReport, runMachine } from './machine.ts';
import { configOfReport } from './replay.ts';

export type Size = { cpus: number; steps: number; switches: number; ops: number; story: number };

export function sizeOf(r: Pick<RunReport, 'config' | 'sched' | 'totals' | 'violations'>): Size {
  return {
    cpus: r.config.cpus,
    steps: r.sched?.stepsRun ?? 0,
    switches: r.sched?.switches ?? 0,
    ops: r.totals.ops,
    story: r.violations[0]?.story.length ?? 0,
  };
}

export type ShrinkResult = {
  kind: string;
  before: Size;
  after: Size;
  /** the smallest failing schedule found (the original's config when none was smaller) */
  report: RunReport | null;
  config: Config;
  tried: number;
  wallMs: number;
};

/**
 * Search within `budgetMs` for a smaller schedule failing with the report's
 * first violation kind: delta debugging (ddmin) over its context switches,
 * run as a scripted schedule (config.sched.script, sched.ts).
 */
export async function shrinkReport(
  json: unknown,
  budgetMs: number,
  opts: RunOptions & { onCandidate?: (cfg: Config, r: RunReport, kept: boolean) => void } = {},
): Promise<ShrinkResult> {
  const t0 = performance.now();
  const orig = configOfReport(json);
  const rec = json as RunReport;
  const kind = rec.violations?.[0]?.kind ?? rec.stall?.kind;
  if (!kind) throw new Error('the report has no violation or stall to shrink');
  const log = rec.sched?.log ?? [];
  if (log.length === 0)
    throw new Error('the report has no schedule log (a report of an older version?)');
  const before = sizeOf(rec);
  const { onCandidate, ...machineOpts } = opts;
  let tried = 0;
  const failsSame = (r: RunReport) =>
    r.verdict !== 'SUCCESS' && (r.violations[0]?.kind ?? r.stall?.kind) === kind;
  const attempt = async (script: [number, number][]) => {
    tried++;
    const cfg: Config = { ...orig, sched: { ...orig.sched, script } };
    const r = await runMachine(cfg, machineOpts);
    const ok = failsSame(r);
    onCandidate?.(cfg, r, ok);
    return { cfg, r, ok };
  };
  const timeLeft = () => performance.now() - t0 < budgetMs && !opts.signal?.aborted;
  // The recording as a script first: it must fail as recorded.
  const first = await attempt(log.map(([a, b]) => [a, b] as [number, number]));
  if (!first.ok) {
    return {
      kind,
      before,
      after: before,
      report: null,
      config: orig,
      tried,
      wallMs: performance.now() - t0,
    };
  }
  let best = { cfg: first.cfg, r: first.r, size: sizeOf(first.r) };
  // ddmin over the switches after the first actor's entry
  let head = best.r.sched!.log.slice(0, 1) as [number, number][];
  let body = best.r.sched!.log.slice(1) as [number, number][];
  let n = 2;
  while (timeLeft() && body.length > 0 && n <= body.length) {
    const chunk = Math.ceil(body.length / n);
    let reduced = false;
    for (let i = 0; i < n && timeLeft(); i++) {
      const without = [...body.slice(0, i * chunk), ...body.slice((i + 1) * chunk)];
      const t = await attempt([...head, ...without]);
      if (t.ok && sizeOf(t.r).switches <= best.size.switches) {
        best = { cfg: t.cfg, r: t.r, size: sizeOf(t.r) };
        // what the run actually did (forced hand-overs included) is the next script
        head = t.r.sched!.log.slice(0, 1) as [number, number][];
        body = t.r.sched!.log.slice(1) as [number, number][];
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= body.length) break;
      n = Math.min(n * 2, body.length);
    }
  }
  const config: Config = {
    ...best.cfg,
    sched: { ...best.cfg.sched, script: best.r.sched!.log as [number, number][] },
  };
  return {
    kind,
    before,
    after: best.size,
    report: best.r,
    config,
    tried,
    wallMs: performance.now() - t0,
  };
}
