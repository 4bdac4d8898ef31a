import { describe, expect, it } from 'vitest';
import type { Dispatcher } from 'undici';
import { AnswerBody, type AnswerConsumer } from '../../src/upstream/answer-body.js';

/** undici's controller, as far as AnswerBody uses it: records pauses, resumes and aborts. */
function fakeController() {
  const calls: string[] = [];
  const controller = {
    paused: false,
    aborted: false,
    reason: null as Error | null,
    pause() {
      this.paused = true;
      calls.push('pause');
    },
    resume() {
      this.paused = false;
      calls.push('resume');
    },
    abort(reason: Error) {
      this.aborted = true;
      this.reason = reason;
      calls.push('abort');
    },
  };
  return { controller: controller as typeof controller & Dispatcher.DispatchController, calls };
}

function recorder(wants: () => boolean = () => true) {
  const events: string[] = [];
  const consumer: AnswerConsumer = {
    data: (chunk) => {
      events.push(`data:${chunk.toString()}`);
      return wants();
    },
    end: () => events.push('end'),
    error: (err) => events.push(`error:${err.message}`),
  };
  return { events, consumer };
}

describe('AnswerBody', () => {
  it('replays chunks that came before the observer and the consumer, in order, then the end', () => {
    const { controller } = fakeController();
    const body = new AnswerBody(controller);
    body.push(Buffer.from('a'));
    body.push(Buffer.from('b'));
    body.finish();
    const seen: string[] = [];
    body.observe({ data: (c) => seen.push(c.toString()), end: () => seen.push('end'), error: () => seen.push('error') });
    const { events, consumer } = recorder();
    body.attach(consumer);
    expect(seen).toEqual(['a', 'b', 'end']);
    expect(events).toEqual(['data:a', 'data:b', 'end']);
  });

  it('shows each later chunk to the observer before the consumer', () => {
    const { controller } = fakeController();
    const body = new AnswerBody(controller);
    const order: string[] = [];
    body.observe({ data: (c) => order.push(`observer:${c.toString()}`), end: () => order.push('observer:end'), error: () => {} });
    body.attach({ data: (c) => (order.push(`consumer:${c.toString()}`), true), end: () => order.push('consumer:end'), error: () => {} });
    body.push(Buffer.from('x'));
    body.finish();
    expect(order).toEqual(['observer:x', 'consumer:x', 'observer:end', 'consumer:end']);
  });

  it('pauses the upstream read when the consumer is full and resumes when it asks', () => {
    const { controller, calls } = fakeController();
    const body = new AnswerBody(controller);
    let full = true;
    const { consumer } = recorder(() => !full);
    body.attach(consumer);
    body.push(Buffer.from('1'));
    expect(controller.paused).toBe(true);
    full = false;
    body.resume();
    expect(controller.paused).toBe(false);
    body.push(Buffer.from('2'));
    expect(calls).toEqual(['resume', 'pause', 'resume']);
  });

  it('pauses when too much arrives before anyone consumes it', () => {
    const { controller } = fakeController();
    const body = new AnswerBody(controller);
    body.push(Buffer.alloc(512 * 1024));
    expect(controller.paused).toBe(false);
    body.push(Buffer.alloc(512 * 1024));
    expect(controller.paused).toBe(true);
    body.attach(recorder().consumer);
    expect(controller.paused).toBe(false);
  });

  it('hands a failure to the observer and the consumer once, and ignores an end after it', () => {
    const { controller } = fakeController();
    const body = new AnswerBody(controller);
    const seen: string[] = [];
    body.observe({ data: () => {}, end: () => seen.push('end'), error: (e) => seen.push(e.message) });
    const { events, consumer } = recorder();
    body.attach(consumer);
    body.push(Buffer.from('part'));
    body.fail(new Error('socket hang up'));
    body.fail(new Error('again'));
    body.finish();
    expect(seen).toEqual(['socket hang up']);
    expect(events).toEqual(['data:part', 'error:socket hang up']);
  });

  it('destroy() aborts the upstream call while the answer is open, and not after it ended', () => {
    const open = fakeController();
    new AnswerBody(open.controller).destroy();
    expect(open.controller.aborted).toBe(true);

    const done = fakeController();
    const ended = new AnswerBody(done.controller);
    ended.finish();
    ended.destroy();
    expect(done.controller.aborted).toBe(false);
  });

  it('refuses a second consumer', () => {
    const body = new AnswerBody(fakeController().controller);
    body.attach(recorder().consumer);
    expect(() => body.attach(recorder().consumer)).toThrow(/already attached/);
  });

  it('reads as a Readable with backpressure, and destroying the Readable aborts the call', async () => {
    const { controller } = fakeController();
    const body = new AnswerBody(controller);
    const readable = body.toReadable();
    body.push(Buffer.from('he'));
    body.push(Buffer.from('llo'));
    body.finish();
    const parts: Buffer[] = [];
    for await (const chunk of readable) parts.push(chunk as Buffer);
    expect(Buffer.concat(parts).toString()).toBe('hello');

    const second = fakeController();
    const broken = new AnswerBody(second.controller);
    broken.toReadable().destroy();
    expect(second.controller.aborted).toBe(true);
  });
});
