import { Worker } from 'node:worker_threads';
import type { SQLInputValue } from 'node:sqlite';

/**
 * The worker's code, plain JavaScript with node: built-ins only, run with `eval` so the same
 * source works from the build and under the test runner (getBuiltinModule, not require: eval'd
 * code is an ES module when the process runs with --input-type=module). It opens its own connection to the
 * file (WAL lets it write while the main thread's connection reads) and commits each batch it
 * is sent in one transaction.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
const { DatabaseSync } = process.getBuiltinModule('node:sqlite');
const db = new DatabaseSync(workerData.path);
db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = ' + workerData.busyTimeoutMs + ';');
const insert = db.prepare(workerData.insertSql);
parentPort.on('message', (message) => {
  if (message.close) {
    db.close();
    parentPort.close();
    return;
  }
  try {
    db.exec('BEGIN IMMEDIATE');
    try {
      for (const row of message.rows) insert.run(...row);
      db.exec('COMMIT');
    } catch (e) {
      db.exec('ROLLBACK');
      throw e;
    }
    parentPort.postMessage({ id: message.id });
  } catch (e) {
    parentPort.postMessage({ id: message.id, error: String(e && e.message || e) });
  }
});
`;

interface Pending {
  resolve(): void;
  reject(err: Error): void;
  /** Settles with the batch: close() waits for these. */
  done: Promise<void>;
}

/**
 * Writes usage rows to a SQLite file from a worker thread. node:sqlite is synchronous: a batch of
 * a thousand rows held the event loop for ~8 ms and cost ~8 µs of main-thread CPU per row; here
 * the main thread only hands the rows over (a structured clone, ~2 µs a row). A worker that
 * dies fails its pending batches (the ledger keeps and retries them) and is started again on
 * the next batch.
 */
export class SqliteUsageWriter {
  readonly #workerData: { path: string; insertSql: string; busyTimeoutMs: number };
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;

  constructor(opts: { path: string; insertSql: string; busyTimeoutMs: number }) {
    this.#workerData = { ...opts };
  }

  /** Commits the rows (values in the insert statement's order) in one transaction. */
  insert(rows: SQLInputValue[][]): Promise<void> {
    const worker = this.#ensureWorker();
    const id = this.#nextId++;
    let settle!: Pick<Pending, 'resolve' | 'reject'>;
    const done = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    this.#pending.set(id, { ...settle, done });
    // Keeps the process alive only while a batch is in the worker's hands.
    worker.ref();
    worker.postMessage({ id, rows });
    return done;
  }

  /** Waits for the batches in flight, then stops the worker. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#pending.values()].map((p) => p.done));
    const worker = this.#worker;
    if (!worker) return;
    this.#worker = undefined;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    // Held until it has exited: an idle writer is unref'd, and this wait alone keeps nothing alive.
    worker.ref();
    worker.postMessage({ close: true });
    await exited;
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: this.#workerData });
    worker.unref();
    worker.on('message', (message: { id: number; error?: string }) => {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (this.#pending.size === 0) worker.unref();
      if (message.error === undefined) pending.resolve();
      else pending.reject(new Error(message.error));
    });
    const fail = (err: Error) => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const [id, pending] of this.#pending) {
        this.#pending.delete(id);
        pending.reject(err);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the SQLite writer thread exited (code ${code})`)));
    this.#worker = worker;
    return worker;
  }
}
