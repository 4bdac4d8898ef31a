import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOOGLE_KEY, TENANT_KEY, startGateway, type RunningGateway } from '../support/gateway-harness.js';

/**
 * An upstream that answers like Google but adds what must never reach a tenant: cookies for
 * Google's domain and headers echoing the project's key (as a misconfigured proxy in front of
 * Google might).
 */
let upstream: Server;
let upstreamUrl: string;
let gw: RunningGateway;

const ANSWER = JSON.stringify({
  candidates: [{ content: { role: 'model', parts: [{ text: 'hi' }] }, finishReason: 'STOP' }],
  usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1, totalTokenCount: 4 },
  modelVersion: 'gemini-3-pro-image',
});

beforeAll(async () => {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const fail = Buffer.concat(chunks).includes('please fail');
      res.writeHead(fail ? 400 : 200, {
        'content-type': 'application/json; charset=UTF-8',
        'set-cookie': ['NID=511=abc; Domain=.google.com; Path=/; HttpOnly', 'AEC=xyz; Domain=.google.com'],
        'x-echo-key': `key=${req.headers['x-goog-api-key']}`,
        'x-goog-request-params': 'fine-to-relay',
      });
      res.end(fail ? JSON.stringify({ error: { code: 400, message: 'bad', status: 'INVALID_ARGUMENT' } }) : ANSWER);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  gw = await startGateway({ upstreamUrl });
});
afterAll(async () => {
  await gw?.close();
  await new Promise((resolve) => upstream?.close(resolve));
});

describe("Google's response headers on the native face", () => {
  it.each([
    ['a successful answer', 'draw', 200],
    ['an error answer', 'please fail', 400],
  ])('relays the content headers of %s but never cookies or a header holding the project key', async (_what, prompt, status) => {
    const res = await request(`${gw.url}/v1beta/models/nano-banana-pro:generateContent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': TENANT_KEY },
      body: JSON.stringify({ contents: [{ parts: [{ text: prompt }] }] }),
    });
    const text = await res.body.text();
    expect(res.statusCode).toBe(status);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.headers['x-echo-key']).toBeUndefined();
    expect(JSON.stringify(res.headers)).not.toContain(GOOGLE_KEY);
    expect(text).not.toContain(GOOGLE_KEY);
    expect(res.headers['x-goog-request-params']).toBe('fine-to-relay');
  });
});
