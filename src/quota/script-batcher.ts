/**
 * Store work that no decision waits for (quota corrections, budget settlements), sent in
 * batches: what is queued until the owner calls flush() (RedisQuotaStore: at the end of the
 * event-loop turn it was queued in) goes out in one script call per hash tag (a Redis Cluster
 * slot), or at once when `maxBatch` entries wait for one tag. Each entry's promise settles with
 * the call that carried it, so a caller that awaits it knows its work is in Redis, as with a
 * call of its own; a failed call rejects every entry it carried (the caller logs it or fails
 * over), never an unhandled rejection.
 *
 * The queue is bounded: no more than `maxBatch` entries wait per tag, and they leave at the next
 * flush; what is in flight is bounded by the callers, each awaiting its entry.
 */
interface Pending<E> {
  entry: E;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface ScriptBatcherOptions<E> {
  /** One script call for entries that share `tag`, in the order they were added. */
  send: (tag: string, entries: E[]) => Promise<unknown>;
  maxBatch: number;
  /** Called on each add: the owner makes sure a flush() follows (once per turn is enough). */
  onQueued: () => void;
}

export class ScriptBatcher<E> {
  readonly #opts: ScriptBatcherOptions<E>;
  #queues = new Map<string, Array<Pending<E>>>();
  readonly #inFlight = new Set<Promise<void>>();

  constructor(opts: ScriptBatcherOptions<E>) {
    this.#opts = opts;
  }

  /** Queues `entry` for the next call for `tag`; settles once that call has. */
  add(tag: string, entry: E): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let queue = this.#queues.get(tag);
      if (!queue) {
        queue = [];
        this.#queues.set(tag, queue);
      }
      queue.push({ entry, resolve, reject });
      this.#opts.onQueued();
      if (queue.length >= this.#opts.maxBatch) {
        this.#queues.delete(tag);
        this.#sendBatch(tag, queue);
      }
    });
  }

  /** Tags with entries waiting. */
  get size(): number {
    return this.#queues.size;
  }

  /** Sends everything queued, one call per tag. */
  flush(): void {
    if (this.#queues.size === 0) return;
    const queues = this.#queues;
    this.#queues = new Map();
    for (const [tag, queue] of queues) this.#sendBatch(tag, queue);
  }

  /** Sends what is queued and resolves once every call in flight has settled (close()). */
  async drain(): Promise<void> {
    this.flush();
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  #sendBatch(tag: string, queue: Array<Pending<E>>): void {
    let sent: Promise<unknown>;
    try {
      sent = this.#opts.send(
        tag,
        queue.map((p) => p.entry),
      );
    } catch (e) {
      sent = Promise.reject(e);
    }
    const done = sent.then(
      () => {
        for (const p of queue) p.resolve();
      },
      (err: unknown) => {
        for (const p of queue) p.reject(err);
      },
    );
    this.#inFlight.add(done);
    void done.then(() => this.#inFlight.delete(done));
  }
}
