// Worker thread: renders emoji and writes the PNGs; see pool.mjs for the protocol.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { renderEmoji } from './render.mjs';

// One libvips thread per worker: parallelism comes from the pool, and the machine is shared.
sharp.concurrency(1);
sharp.cache(false);

if (parentPort === null) throw new Error('render-worker.mjs runs only as a worker thread');
const port = parentPort;

port.on('message', async ({ index, task }) => {
  try {
    const png = await renderEmoji(task.input, task.options);
    await writeFile(task.outPath, png);
    const sha256 = createHash('sha256').update(png).digest('hex');
    port.postMessage({ index, result: { bytes: png.length, sha256 } });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    port.postMessage({ index, error: `${task.source}: ${reason}` });
  }
});
