/**
 * What the gateway keeps of the table's disagreements with Google (#11 item 4): Google's
 * modelStatus from answers, logged once per model and stage; readiness detail; the view the
 * admin API serves; the counts behind the metric.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ModelFindings } from '../../src/models/model-findings.js';
import { ManualClock } from '../../src/time/clock.js';

function setup() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    }),
  );
  const clock = new ManualClock('2026-11-28T12:00:00Z');
  const counts: string[] = [];
  const findings = new ModelFindings({ logger, clock, onCount: (p, k, n) => counts.push(`${p}/${k}=${n}`) });
  return { findings, lines, clock, counts, warnings: () => lines.filter((l) => l['level'] === 40) };
}

const LEGACY = { modelStage: 'LEGACY', message: 'gemini-3.1-flash-image is deprecated; migrate to gemini-nano-banana-2.1.' };

describe("Google's modelStatus on answers", () => {
  it('is a finding logged once per model and stage, however many answers carry it', () => {
    const { findings, warnings, counts, clock } = setup();
    for (let i = 0; i < 50; i++) findings.modelStatus('default', 'gemini-3.1-flash-image', LEGACY);
    clock.advance(60_000);
    findings.modelStatus('other', 'gemini-3.1-flash-image', LEGACY);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ finding: 'model_status', project: 'default', model: 'gemini-3.1-flash-image', modelStatus: LEGACY });
    expect(findings.findings()).toEqual([
      {
        kind: 'model_status',
        project: 'default',
        model: 'gemini-3.1-flash-image',
        message: 'Google reports gemini-3.1-flash-image as LEGACY: gemini-3.1-flash-image is deprecated; migrate to gemini-nano-banana-2.1.',
        since: '2026-11-28T12:00:00.000Z',
        modelStatus: LEGACY,
      },
    ]);
    expect(counts).toEqual(['default/model_status=1']);
  });

  it('logs again when the stage moves on (LEGACY, then DEPRECATED)', () => {
    const { findings, warnings } = setup();
    findings.modelStatus('default', 'gemini-3.1-flash-image', LEGACY);
    findings.modelStatus('default', 'gemini-3.1-flash-image', { modelStage: 'DEPRECATED', retirementTime: '2026-12-15T00:00:00Z' });
    expect(warnings().map((w) => w['msg'])).toEqual([
      'Google reports gemini-3.1-flash-image as LEGACY: gemini-3.1-flash-image is deprecated; migrate to gemini-nano-banana-2.1.',
      'Google reports gemini-3.1-flash-image as DEPRECATED (retirement 2026-12-15T00:00:00Z)',
    ]);
  });

  it.each([
    [{ modelStage: 'STABLE' }, false],
    [{ modelStage: 'PREVIEW', message: 'a preview' }, false],
    [{ modelStage: 'MODEL_STAGE_UNSPECIFIED' }, false],
    [{}, false],
    [{ modelStage: 'RETIRED' }, true],
    [{ modelStage: 'STABLE', retirementTime: '2027-03-01T00:00:00Z' }, true],
  ])('takes %o for a warning: %s', (status, warns) => {
    const { findings, warnings } = setup();
    findings.modelStatus('default', 'gemini-3-pro-image', status);
    expect(warnings()).toHaveLength(warns ? 1 : 0);
    expect(findings.findings()).toHaveLength(warns ? 1 : 0);
  });
});

describe('findings for readiness and the admin API', () => {
  it('has no view until a check has ended or an answer has reported something', () => {
    const { findings } = setup();
    expect(findings.view()).toBeNull();
    expect(findings.readiness()).toBe('ok');
    findings.modelStatus('default', 'gemini-3.1-flash-image', LEGACY);
    expect(findings.view()).toMatchObject({ checkedAt: null, failures: [], findings: [{ kind: 'model_status' }] });
  });

  it('is degraded (never unready) with the first findings spelled out and the rest counted', () => {
    const { findings } = setup();
    findings.checked(
      'default',
      ['a', 'b', 'c', 'd'].map((m) => ({ kind: 'not_listed' as const, project: 'default', model: `model-${m}`, message: `model-${m} missing` })),
    );
    findings.modelStatus('default', 'gemini-3.1-flash-image', LEGACY);
    expect(findings.readiness()).toEqual({
      degraded: '5 model finding(s): model-a missing; model-b missing; model-c missing; and 2 more (GET /admin/models)',
    });
  });

  it("replaces a project's findings at each check, keeping when each was first seen, and leaves other projects' alone", () => {
    const { findings, clock, counts } = setup();
    const f = (project: string, model: string) => ({ kind: 'not_listed' as const, project, model, message: `${model} missing for ${project}` });
    findings.checked('a', [f('a', 'x'), f('a', 'y')]);
    findings.checked('b', [f('b', 'x')]);
    clock.advance(3_600_000);
    findings.checked('a', [f('a', 'y')]);
    expect(findings.findings().map((x) => [x.project, x.model, x.since])).toEqual([
      ['a', 'y', '2026-11-28T12:00:00.000Z'],
      ['b', 'x', '2026-11-28T12:00:00.000Z'],
    ]);
    expect(findings.view()!.checkedAt).toBe('2026-11-28T13:00:00.000Z');
    expect(counts).toEqual(['a/not_listed=2', 'b/not_listed=1', 'a/not_listed=1']);
  });

  it('forgets a failure once the list is readable again', () => {
    const { findings, lines } = setup();
    findings.checkFailed('a', 'Google answered 503 UNAVAILABLE: overloaded');
    findings.checkFailed('a', 'Google answered 503 UNAVAILABLE: overloaded');
    expect(findings.view()!.failures).toHaveLength(1);
    findings.checked('a', []);
    expect(findings.view()!.failures).toEqual([]);
    expect(lines.filter((l) => l['level'] === 40)).toHaveLength(1);
    expect(lines.at(-1)!['msg']).toBe("model check: Google's model list is readable again for project a");
  });
});
