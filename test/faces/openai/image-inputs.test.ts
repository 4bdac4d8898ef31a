import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { hostAllowed, parseDataUrl, resolveImageUrl } from '../../../src/faces/openai/image-inputs.js';

const PNG_B64 = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').toString('base64');

describe('hostAllowed: only the hosts the operator listed', () => {
  it.each([
    ['https://img.example.com/a.png', ['img.example.com'], true],
    ['https://IMG.example.com/a.png', ['img.example.com'], true],
    ['https://img.example.com.evil.test/a.png', ['img.example.com'], false],
    ['https://evil.test/img.example.com', ['img.example.com'], false],
    ['https://a.cdn.example.com/x', ['*.example.com'], true],
    ['https://example.com/x', ['*.example.com'], false],
    ['https://notexample.com/x', ['*.example.com'], false],
    ['http://127.0.0.1:8080/x', ['127.0.0.1:8080'], true],
    ['http://127.0.0.1:8081/x', ['127.0.0.1:8080'], false],
    ['https://img.example.com/x', ['img.example.com:443'], true],
    ['http://169.254.169.254/latest', [], false],
    ['http://user@img.example.com@evil.test/x', ['img.example.com'], false],
  ])('%s with %j: %s', (url, hosts, allowed) => {
    expect(hostAllowed(new URL(url), hosts)).toBe(allowed);
  });
});

describe('image URLs', () => {
  it('reads a data URL, typed by its bytes', () => {
    expect(parseDataUrl(`data:image/png;base64,${PNG_B64}`, 'p')).toEqual({ mimeType: 'image/png', base64: PNG_B64 });
    // A wrong declared type is corrected by the bytes.
    expect(parseDataUrl(`data:image/jpeg;base64,${PNG_B64}`, 'p').mimeType).toBe('image/png');
    for (const bad of ['data:image/png,raw', 'data:image/png;base64,%%%', 'data:;base64,', 'data:text/plain;base64,aGVsbG8=']) {
      expect(() => parseDataUrl(bad, 'p'), bad).toThrow();
    }
  });

  it('fetches an allowed host, and never connects to one that is not allowed, nor follows a redirect', async () => {
    let hits = 0;
    const server = createServer((req, res) => {
      hits++;
      if (req.url === '/redirect') {
        res.writeHead(302, { location: 'http://169.254.169.254/' });
        return void res.end();
      }
      const png = Buffer.from(PNG_B64, 'base64');
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(png);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const policy = { allowHosts: [`127.0.0.1:${port}`], maxBytes: 1000, timeoutMs: 2000 };
      expect(await resolveImageUrl(`http://127.0.0.1:${port}/a.png`, 'p', policy)).toEqual({ mimeType: 'image/png', base64: PNG_B64 });
      expect(hits).toBe(1);
      await expect(resolveImageUrl(`http://127.0.0.1:${port}/redirect`, 'p', policy)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(hits).toBe(2);
      await expect(resolveImageUrl(`http://localhost:${port}/a.png`, 'p', policy)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(resolveImageUrl(`http://127.0.0.1:${port}/a.png`, 'p', { ...policy, allowHosts: [] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(resolveImageUrl(`http://127.0.0.1:${port}/a.png`, 'p', { ...policy, maxBytes: 4 })).rejects.toMatchObject({ code: 'BODY_TOO_LARGE' });
      expect(hits).toBe(3);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
