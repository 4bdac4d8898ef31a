import { describe, expect, it } from 'vitest';
import { fileMetadata, parseMultipartRelated, uploadCommands } from '../../src/files/upload-protocol.js';

describe("Google's upload protocols", () => {
  it.each([
    ['upload, finalize', ['upload', 'finalize']],
    ['Upload,Finalize', ['upload', 'finalize']],
    ['start', ['start']],
    [undefined, []],
  ])('reads X-Goog-Upload-Command %s', (header, words) => {
    expect([...uploadCommands(header)]).toEqual(words);
  });

  it('parses the multipart/related upload the legacy SDK sends: metadata, then the media with its type', () => {
    const boundary = '123456789';
    const media = Buffer.from('{"key":"a"}\r\n{"key":"b"}\n');
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/json; charset=utf-8\r\n\r\n{"file":{"displayName":"in","mimeType":"application/jsonl"}}\r\n--${boundary}\r\nContent-Type: application/jsonl\r\n\r\n`),
      media,
      Buffer.from(`\r\n--${boundary}--`),
    ]);
    const parsed = parseMultipartRelated(`multipart/related; boundary=${boundary}`, body);
    expect(parsed.media.equals(media)).toBe(true);
    expect(parsed.mimeType).toBe('application/jsonl');
    expect(fileMetadata(parsed.metadata)).toEqual({ displayName: 'in', mimeType: 'application/jsonl' });
  });

  it.each([
    ['no boundary', 'multipart/related', Buffer.from('x'), /boundary/],
    ['one part only', 'multipart/related; boundary=b', Buffer.from('--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b--'), /metadata part and a media part/],
    ['metadata that is no JSON', 'multipart/related; boundary=b', Buffer.from('--b\r\n\r\nnope\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--'), /not JSON/],
  ])('refuses %s', (_name, type, body, message) => {
    expect(() => parseMultipartRelated(type, body)).toThrow(message);
  });
});
