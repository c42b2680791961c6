/**
 * soak --render-only of a folder whose summary still says RUNNING: alive, or
 * DIED (its process gone on this host, or its heartbeat stopped).
 */
import { describe, expect, it } from 'vitest';
import { type SoakSummary, soakLiveness } from '../../src/soak/soak.ts';

const beat = '2026-01-01T03:00:00.000Z';
const at = (s: string) => Date.parse(s);
const running = (over: Partial<SoakSummary> = {}) =>
  ({
    verdict: 'RUNNING',
    updatedAt: beat,
    heartbeat: beat,
    heartbeatEveryMs: 60_000,
    pid: 4242,
    hostname: 'box',
    ...over,
  }) as SoakSummary;
const alive = () => true;
const gone = () => false;

describe('soakLiveness', () => {
  it('an ended soak is ended, whatever its process', () => {
    expect(soakLiveness({ ...running(), verdict: 'FAILURE' }, at(beat), gone, 'box')).toEqual({
      state: 'ENDED',
    });
  });

  it('RUNNING while the process lives and the heartbeat is recent', () => {
    const now = at('2026-01-01T03:01:30.000Z');
    expect(soakLiveness(running(), now, alive, 'box')).toEqual({
      state: 'RUNNING',
      heartbeat: beat,
    });
  });

  it('DIED when its pid is gone on its own host, however recent the heartbeat', () => {
    const l = soakLiveness(running(), at(beat) + 1000, gone, 'box');
    expect(l).toMatchObject({ state: 'DIED', heartbeat: beat });
    expect(l.state === 'DIED' && l.why).toBe('process 4242 on box is gone');
  });

  it('DIED when the heartbeat is far older than its interval (another host, or the pid reused)', () => {
    const late = at(beat) + 3 * 60_000 + 31_000;
    for (const [host, isAlive] of [
      ['elsewhere', gone],
      ['box', alive],
    ] as const) {
      const l = soakLiveness(running(), late, isAlive, host);
      expect(l.state).toBe('DIED');
      expect(l.state === 'DIED' && l.why).toMatch(
        /no heartbeat for 211 s \(one was due every 60 s\)/,
      );
    }
    // on another host, a heartbeat within 3 intervals + 30 s cannot be judged dead
    expect(soakLiveness(running(), late - 2000, gone, 'elsewhere').state).toBe('RUNNING');
  });

  it('a folder from before heartbeats: judged by its pid only', () => {
    const old = running({ heartbeat: undefined, heartbeatEveryMs: undefined });
    expect(soakLiveness(old, at(beat) + 86_400_000, alive, 'box').state).toBe('RUNNING');
    expect(soakLiveness(old, at(beat), gone, 'box').state).toBe('DIED');
  });
});
