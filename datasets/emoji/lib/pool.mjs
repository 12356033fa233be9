// A fixed pool of worker threads that runs tasks in index order and returns results by index,
// so the output never depends on which worker finished first.
import { Worker } from 'node:worker_threads';

/**
 * @template T, R
 * @param {URL} workerUrl  module that answers each {index, task} message with {index, result}
 *   or {index, error}
 * @param {readonly T[]} tasks
 * @param {number} concurrency
 * @param {(done: number) => void} [onProgress]
 * @returns {Promise<R[]>}
 */
export function runPool(workerUrl, tasks, concurrency, onProgress) {
  return new Promise((resolve, reject) => {
    /** @type {R[]} */
    const results = new Array(tasks.length);
    const workers = [];
    /** Workers this pool stopped on purpose; any other exit is a crash. */
    const retired = new Set();
    const retire = (worker) => {
      retired.add(worker);
      void worker.terminate();
    };
    let next = 0;
    let done = 0;
    let failed = false;
    const fail = (error) => {
      if (failed) return;
      failed = true;
      for (const w of workers) retire(w);
      reject(error);
    };
    const feed = (worker) => {
      if (next < tasks.length) {
        worker.postMessage({ index: next, task: tasks[next] });
        next += 1;
      } else {
        retire(worker);
      }
    };
    const count = Math.max(1, Math.min(concurrency, tasks.length));
    if (tasks.length === 0) {
      resolve(results);
      return;
    }
    for (let i = 0; i < count; i += 1) {
      const worker = new Worker(workerUrl);
      workers.push(worker);
      worker.on('message', (message) => {
        if (failed) return;
        if (message.error !== undefined) {
          fail(new Error(message.error));
          return;
        }
        results[message.index] = message.result;
        done += 1;
        onProgress?.(done);
        if (done === tasks.length) {
          for (const w of workers) retire(w);
          resolve(results);
        } else {
          feed(worker);
        }
      });
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (!retired.has(worker)) fail(new Error(`worker exited unexpectedly (code ${code})`));
      });
      feed(worker);
    }
  });
}
