import { describe, expect, it } from 'vitest';
import { audit } from '../../src/check/audit.ts';
import { makeConfig } from '../../src/config.ts';
import { kernel_boot } from '../../src/kernel/boot.ts';
import { allocate, computeLayout, HEAD, headNode, type Views } from '../../src/shm/layout.ts';
import { type AuditRecord, auditViolationLine } from '../../src/soak/soak.ts';

const cfg = makeConfig({ cpus: 2, pages: 64, files: 2, seed: 7 });
const booted = (): Views => {
  const v = allocate(computeLayout(cfg));
  kernel_boot(v, cfg);
  return v;
};

describe('a failed periodic audit as a violation line', () => {
  it('a freshly booted machine audits clean', () => {
    expect(audit(booted()).ok).toBe(true);
  });

  it('carries the kind, the seed, what the audit found and every CPU and the host', () => {
    const v = booted();
    // Lose a page: unlink the first free page from the zone free list.
    const head = headNode(v.L, HEAD.free);
    const first = v.i32[v.L.lru_next + head]!;
    const second = v.i32[v.L.lru_next + first]!;
    v.i32[v.L.lru_next + head] = second;
    v.i32[v.L.lru_prev + second] = head;
    const a = audit(v);
    expect(a.ok).toBe(false);
    const record: AuditRecord = {
      elapsedMs: 180_000,
      ok: false,
      parkMs: 0.4,
      heldMs: 3,
      accounted: a.accounted,
      errors: a.errors,
    };
    const line = auditViolationLine(record, v, cfg.seed, 3);
    expect(line).toMatchObject({
      schema: 1,
      seq: 3,
      kind: 'audit',
      seed: 7,
      elapsedMs: 180_000,
      cpu: -1,
      pfn: -1,
      cpusInvolved: [0, 1, 2],
      audit: { ok: false, parkMs: 0.4, accounted: a.accounted },
    });
    expect(line.description).toMatch(/conservation audit/);
    expect(line.errors!.join('\n')).toMatch(/free_pages says|leaked|conservation/);
    expect(line.audit).not.toHaveProperty('errors');
    expect(Array.isArray(line.trace)).toBe(true);
    expect(JSON.parse(JSON.stringify(line))).toEqual(line);
  });
});
