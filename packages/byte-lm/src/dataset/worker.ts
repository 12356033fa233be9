/** Worker-thread entry of the prep pool (pool.ts): one SampleProcessor, one task at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { SampleProcessor, type SampleSetup, type SampleTask } from './sample.js';

const processor = new SampleProcessor(workerData as SampleSetup);
const port = parentPort;
if (port) {
  port.on('message', (msg: { id: number; task: SampleTask }) => {
    void processor.process(msg.task).then((result) => {
      const transfer = result.ok ? [result.tokens.buffer as ArrayBuffer] : [];
      port.postMessage({ id: msg.id, result }, transfer);
    });
  });
}
