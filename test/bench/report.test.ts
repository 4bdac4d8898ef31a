import { describe, expect, it } from 'vitest';
import { buildMemoryRows, buildRows, formatMemoryTable, formatTable, peerNotes, type MemorySegment, type Segment } from '../../bench/report.js';
import type { BodyKind, Face, Target } from '../../bench/scenarios.js';

function segment(face: Face, target: Target, rps: number, extra: Partial<Segment> = {}, body: BodyKind = 'tiny', run = 0): Segment {
  return {
    run,
    face,
    body,
    target,
    concurrency: 16,
    completed: rps,
    errors: 0,
    elapsedMs: 1000,
    p50Ms: 1000 / rps,
    p99Ms: 2000 / rps,
    requestsPerSec: rps,
    ...(target === 'direct' ? {} : { cpuMsPerRequest: 0.1, peakRssMb: 100, startRssMb: 60 }),
    mockCpuMsPerRequest: 0.01,
    loadGeneratorCpuMsPerRequest: 0.02,
    foreignCpuPct: 1,
    ...extra,
  };
}

const failing = (face: Face, error: string, body: BodyKind = 'tiny', run = 0) =>
  segment(face, 'portkey', 0, { completed: 0, errors: 16, firstError: error, p50Ms: Number.NaN, p99Ms: Number.NaN, unsupported: true, elapsedMs: 0, foreignCpuPct: 0 }, body, run);

const nativeOnly: Segment[] = [segment('generateContent', 'direct', 2000), segment('generateContent', 'floor', 1000), segment('generateContent', 'gateway', 900)];

const withPeer: Segment[] = [
  ...nativeOnly,
  failing('generateContent', 'HTTP 500: {"status":"failure","message":"Something went wrong"}'),
  segment('openai', 'gateway', 500),
  failing('openai', 'HTTP 500: {"status":"failure","message":"imageGenerate is not supported by google"}'),
  segment('chat', 'gateway', 600),
  segment('chat', 'portkey', 200),
];

describe('bench rows with a peer', () => {
  it('without peer segments: the rows of before, with no portkey row and no peer note', () => {
    const rows = buildRows(nativeOnly, 1, ['generateContent'], ['tiny']);
    expect(rows.map((r) => r.target)).toEqual(['direct', 'floor', 'gateway']);
    const text = formatTable(rows);
    expect(text).not.toMatch(/portkey|openai-chat/);
  });

  it('puts portkey after the gateway on every face, the OpenAI faces against the native floor', () => {
    const rows = buildRows(withPeer, 1, ['generateContent', 'openai', 'chat'], ['tiny']);
    expect(rows.map((r) => `${r.face} ${r.target}${r.reference ? '*' : ''}`)).toEqual([
      'generateContent direct',
      'generateContent floor',
      'generateContent gateway',
      'generateContent portkey',
      'openai direct*',
      'openai floor*',
      'openai gateway',
      'openai portkey',
      'chat direct*',
      'chat floor*',
      'chat gateway',
      'chat portkey',
    ]);
    const chatPeer = rows.find((r) => r.face === 'chat' && r.target === 'portkey')!;
    expect(chatPeer.unsupported).toBeUndefined();
    expect(chatPeer.median.floorRatio).toBeCloseTo(0.2);
    expect(chatPeer.median.addedP50Ms).toBeCloseTo(1000 / 200 - 1000 / 2000);
    const imagesPeer = rows.find((r) => r.face === 'openai' && r.target === 'portkey')!;
    expect(imagesPeer.unsupported).toBe(true);
    expect(imagesPeer.median.errors).toBe(16);
  });

  it('shows a failing route as "fails" with its errors, and says why below the table', () => {
    const rows = buildRows(withPeer, 1, ['generateContent', 'openai', 'chat'], ['tiny']);
    const text = formatTable(rows, { portkeyVersion: '1.15.2' });
    const line = text.split('\n').find((l) => /openai\s+portkey/.test(l))!;
    expect(line).toMatch(/fails\s+16/);
    expect(text).toContain("portkey: Portkey's open-source gateway 1.15.2");
    expect(text).toContain('portkey openai (tiny): HTTP 500: {"status":"failure","message":"imageGenerate is not supported by google"}');
    expect(text).toContain('portkey native (tiny): HTTP 500');
    expect(text).toContain('openai-chat: POST /v1/chat/completions');
  });

  it('names each failure once with the bodies it happened on', () => {
    const segs = [...withPeer, failing('openai', 'HTTP 500: {"status":"failure","message":"imageGenerate is not supported by google"}', '4K')];
    const rows = buildRows(segs, 1, ['openai'], ['tiny', '4K']);
    const notes = peerNotes(rows).filter((n) => n.includes('portkey openai'));
    expect(notes).toEqual(['     portkey openai (tiny, 4K): HTTP 500: {"status":"failure","message":"imageGenerate is not supported by google"}']);
  });

  it('a route that failed in one run only is measured, not marked failing', () => {
    const segs = [...withPeer.map((s) => ({ ...s, run: 0 })), ...withPeer.map((s) => (s.face === 'openai' && s.target === 'portkey' ? segment('openai', 'portkey', 100, {}, 'tiny', 1) : { ...s, run: 1 }))];
    const row = buildRows(segs, 2, ['openai'], ['tiny']).find((r) => r.target === 'portkey')!;
    expect(row.unsupported).toBeUndefined();
    expect(row.median.errors).toBe(16);
  });
});

describe('bench memory rows with a peer', () => {
  const mem = (target: MemorySegment['target'], face: MemorySegment['face'], inFlight: number, peak: number, run = 0): MemorySegment => ({
    run,
    target,
    face,
    inFlight,
    completed: inFlight,
    errors: 0,
    p50Ms: 1000,
    startRssMb: 60,
    peakRssMb: peak,
  });

  it('keeps 8 and 64 in flight apart, medians over runs, in the order measured', () => {
    const rows = buildMemoryRows([
      mem('floor', 'generateContent', 64, 150),
      mem('portkey', 'chat', 64, 3000),
      mem('portkey', 'chat', 8, 800),
      mem('floor', 'generateContent', 64, 170, 1),
      mem('portkey', 'chat', 64, 3200, 1),
      mem('portkey', 'chat', 8, 820, 1),
    ]);
    expect(rows.map((r) => `${r.inFlight} ${r.target} ${r.face} ${r.peakRssMb}`)).toEqual(['64 floor generateContent 160', '64 portkey chat 3100', '8 portkey chat 810']);
    expect(rows[1]!.completed).toBe(128);
  });

  it('says portkey was restarted too, and why its answers failed, only when it is in the table', () => {
    const plain = formatMemoryTable(buildMemoryRows([mem('floor', 'generateContent', 64, 150), { ...mem('gateway', 'openai', 64, 400), errors: 2, firstError: 'HTTP 502' }]));
    expect(plain).toContain('(floor and gateway restarted before each;');
    expect(plain).not.toContain('HTTP 502');
    const peer = formatMemoryTable(buildMemoryRows([mem('floor', 'generateContent', 64, 150), { ...mem('portkey', 'chat', 64, 4000), errors: 3, firstError: 'portkey died: signal SIGABRT' }]));
    expect(peer).toContain('(floor, gateway and portkey restarted before each;');
    expect(peer).toContain('64 x 4K openai-chat portkey: portkey died: signal SIGABRT');
  });
});
