import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ProjectRefusal } from '../../src/gemini/errors.js';
import { ProjectRefusals } from '../../src/relay/project-refusals.js';
import { ManualClock } from '../../src/time/clock.js';

const KEY = 'AIzaSyTHE-PROJECT-KEY';
const badKey: ProjectRefusal = { reason: 'API_KEY_INVALID', httpStatus: 400, googleStatus: 'INVALID_ARGUMENT', message: `API key not valid: ${KEY}.` };
const prepay: ProjectRefusal = { reason: 'PREPAYMENT_DEPLETED', httpStatus: 402, googleStatus: 'RESOURCE_EXHAUSTED', message: 'Your prepayment credits are depleted.' };

function setup() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      cb();
    },
  });
  const clock = new ManualClock('2026-11-28T12:00:00Z');
  const counted: string[] = [];
  const refusals = new ProjectRefusals({ clock, logger: pino({ level: 'info' }, sink), onRefusal: (p, r) => counted.push(`${p}:${r}`) });
  const errors = () => lines.filter((l) => l['level'] === 50);
  return { refusals, clock, lines, errors, counted };
}

describe("ProjectRefusals: the operator hears of a refused project once a minute, tenants never do (#12)", () => {
  it('logs one error line per project per minute, counting the refusals between, and never the key', () => {
    const { refusals, clock, errors, counted } = setup();
    for (let i = 0; i < 5; i++) {
      refusals.refused('default', KEY, badKey);
      clock.advance(10_000);
    }
    expect(errors()).toHaveLength(1);
    expect(errors()[0]).toMatchObject({ project: 'default', reason: 'API_KEY_INVALID', httpStatus: 400, refusedCalls: 1 });
    expect(String(errors()[0]!['msg'])).toMatch(/^Google refuses project default: Google does not accept its API key/);
    expect(JSON.stringify(errors())).not.toContain(KEY);
    expect(counted).toHaveLength(5);

    clock.advance(10_000); // 60 s after the first line
    refusals.refused('default', KEY, badKey);
    expect(errors()).toHaveLength(2);
    expect(errors()[1]).toMatchObject({ refusedCalls: 5 });
  });

  it('alerts for each project on its own, and again at once when the reason changes', () => {
    const { refusals, errors } = setup();
    refusals.refused('default', KEY, badKey);
    refusals.refused('other', 'k2', badKey);
    refusals.refused('default', KEY, badKey);
    expect(errors().map((l) => l['project'])).toEqual(['default', 'other']);
    refusals.refused('default', KEY, prepay);
    expect(errors().map((l) => l['reason'])).toEqual(['API_KEY_INVALID', 'API_KEY_INVALID', 'PREPAYMENT_DEPLETED']);
  });

  it('names every refused project in readiness until a call on it is accepted again', () => {
    const { refusals, lines } = setup();
    expect(refusals.readiness()).toBe('ok');
    refusals.refused('default', KEY, prepay);
    refusals.refused('other', 'k2', badKey);
    const detail = refusals.readiness();
    expect(detail).toEqual({ degraded: expect.stringContaining('project default refused by Google since 2026-11-28T12:00:00.000Z (PREPAYMENT_DEPLETED') });
    expect((detail as { degraded: string }).degraded).toContain('project other refused by Google');
    refusals.accepted('default');
    refusals.accepted('default');
    expect((refusals.readiness() as { degraded: string }).degraded).not.toContain('project default');
    refusals.accepted('other');
    expect(refusals.readiness()).toBe('ok');
    expect(lines.filter((l) => l['msg'] === 'Google accepts project default again')).toHaveLength(1);
  });
});
