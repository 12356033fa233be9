/**
 * A pool of worker threads running SampleProcessor, or the processor in-process when
 * `workers` is 0. Results come back by task, so callers order them, not the scheduler.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CodecError } from '@jpeglm/codec-tokenizer';
import { SampleProcessor, type SampleResult, type SampleSetup, type SampleTask } from './sample.js';

interface Pending {
  readonly id: number;
  readonly task: SampleTask;
  readonly resolve: (r: SampleResult) => void;
  readonly reject: (e: unknown) => void;
}

const IN_FLIGHT = 2;

/** The compiled worker; absent when running from TypeScript sources (tests use workers = 0). */
export const WORKER_URL = new URL('./worker.js', import.meta.url);

export class SamplePool {
  private readonly workers: Worker[] = [];
  private readonly queue: Pending[] = [];
  /** Tasks sent to each worker, in order; a worker answers in any order, by id. */
  private readonly running = new Map<Worker, Map<number, Pending>>();
  private readonly local: SampleProcessor | undefined;
  private nextId = 0;
  private failure: unknown;
  private closing = false;

  constructor(setup: SampleSetup, workers: number) {
    if (!(Number.isInteger(workers) && workers >= 0 && workers <= 256)) {
      throw new CodecError('invalid-argument', `workers must be an integer 0..256, got ${workers}`);
    }
    if (workers === 0) {
      this.local = new SampleProcessor(setup);
      return;
    }
    const file = fileURLToPath(WORKER_URL);
    if (!existsSync(file)) {
      throw new CodecError(
        'invalid-argument',
        `worker threads need the built ${file} (run tsc -b), or use 0 workers`,
      );
    }
    for (let i = 0; i < workers; i++) {
      const w = new Worker(file, { workerData: setup });
      const tasks = new Map<number, Pending>();
      w.on('message', (msg: { id: number; result: SampleResult }) => {
        const p = tasks.get(msg.id);
        tasks.delete(msg.id);
        p?.resolve(msg.result);
        this.pump();
      });
      w.on('error', (e) => this.fail(e));
      // A worker that dies without an error event (killed, out of memory) must not hang the run.
      w.on('exit', (code) => {
        if (!this.closing) this.fail(new Error(`prep worker thread exited (code ${code})`));
      });
      this.workers.push(w);
      this.running.set(w, tasks);
    }
  }

  run(task: SampleTask): Promise<SampleResult> {
    if (this.local) return this.local.process(task);
    return new Promise((resolve, reject) => {
      if (this.failure !== undefined) return reject(this.failure);
      this.queue.push({ id: this.nextId++, task, resolve, reject });
      this.pump();
    });
  }

  /**
   * Keep IN_FLIGHT tasks at each worker, so it reads the next file while sharp decodes the
   * current one, and never waits for a round trip through the main thread.
   */
  private pump(): void {
    for (const [w, tasks] of this.running) {
      while (tasks.size < IN_FLIGHT && this.queue.length > 0) {
        const p = this.queue.shift() as Pending;
        tasks.set(p.id, p);
        w.postMessage({ id: p.id, task: p.task });
      }
    }
  }

  private fail(e: unknown): void {
    this.failure ??= e;
    for (const p of this.queue) p.reject(e);
    for (const tasks of this.running.values()) {
      for (const p of tasks.values()) p.reject(e);
      tasks.clear();
    }
    this.queue.length = 0;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
