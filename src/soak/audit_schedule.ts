/**
 * When a soak stops the machine for its periodic audit: every `everyIntervals`
 * stats intervals, or once `maxGapMs` of wall time has passed since the last
 * one (or since the CPUs were released), whichever comes first. The time bound
 * keeps audits coming with a long --stat-interval (an 8 h soak with
 * `--stat-interval 10m` would otherwise audit every 30 minutes, or never with
 * one interval per run). Either bound 0 is off; both 0: only the final audit.
 */

/** Default of `--audit-interval`: at least one audit per 5 minutes of run. */
export const AUDIT_MAX_GAP_MS = 5 * 60_000;

export type AuditSchedule = {
  /**
   * Called on every monitor tick with the run's elapsed wall time, and
   * `intervalEnded` when a stats interval has just been written: true when an
   * audit is due now. The caller then requests one and calls `requested`.
   */
  due(elapsedMs: number, intervalEnded: boolean): boolean;
  /** An audit was requested at `elapsedMs`: both counts start again. */
  requested(elapsedMs: number): void;
};

export function makeAuditSchedule(everyIntervals: number, maxGapMs: number): AuditSchedule {
  let intervals = 0;
  let lastMs = 0;
  return {
    due(elapsedMs, intervalEnded) {
      if (intervalEnded) intervals++;
      if (everyIntervals > 0 && intervals >= everyIntervals) return true;
      return maxGapMs > 0 && elapsedMs - lastMs >= maxGapMs;
    },
    requested(elapsedMs) {
      intervals = 0;
      lastMs = elapsedMs;
    },
  };
}
