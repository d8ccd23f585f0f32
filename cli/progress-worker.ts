// The progress view runs in a worker thread, drawing straight onto the terminal's file
// descriptor. Two reasons: loading ink and react takes the better part of a second of module
// loading, which on the main thread only advances when the work yields to the event loop (some
// loops yield once per few hundred files), so the view would appear late or never; and React's
// rendering then costs the work nothing.
//
// The handshake with cli/output.ts is one shared Int32 (VIEW_STATE), so that the main thread can
// decide synchronously, inside done(), whether the view is on screen: if the worker has not
// mounted yet the main thread cancels it and prints the summary itself; if it has, the main thread
// asks it to finish and blocks until the final frame is on the terminal, so no line printed after
// done() can land inside the live area.
import { parentPort, workerData } from 'node:worker_threads';
import tty from 'node:tty';
import { Chalk } from 'chalk';
import type { LogLine, ProgressSnapshot } from './progress.js';
import { VIEW_STATE, type ViewMessage, type ViewWorkerData } from './progress-protocol.js';
import { mountProgressView, type ProgressViewHandle } from './progress-view.js';

const data = workerData as ViewWorkerData;
const state = new Int32Array(data.state);
const stream = new tty.WriteStream(data.fd);
const color = new Chalk({ level: data.colorLevel });
const log: LogLine[] = [];
let handle: ProgressViewHandle | undefined;
let latest: ProgressSnapshot | undefined;
let drawScheduled = false;

function signal(value: number): void {
  Atomics.store(state, 0, value);
  Atomics.notify(state, 0);
}

function draw(): void {
  drawScheduled = false;
  if (!latest) return;
  if (handle) {
    handle.update(latest);
    return;
  }
  // Mount only if the main thread has not given up on the view meanwhile.
  if (Atomics.compareExchange(state, 0, VIEW_STATE.loading, VIEW_STATE.shown) !== VIEW_STATE.loading) {
    process.exit(0);
  }
  handle = mountProgressView(stream, color, latest);
}

parentPort!.on('message', (message: ViewMessage) => {
  log.push(...message.log);
  latest = { log: [...log], current: message.current, now: message.now };
  if (message.columns !== undefined && message.columns !== stream.columns) {
    stream.columns = message.columns;
    stream.emit('resize');
  }
  if (message.type === 'update') {
    // Updates queued while ink loaded arrive together: draw the newest once.
    if (!drawScheduled) {
      drawScheduled = true;
      setImmediate(draw);
    }
    return;
  }
  if (!handle) {
    signal(VIEW_STATE.finished);
    process.exit(0);
  }
  handle.finish(latest).then(
    () => {
      signal(VIEW_STATE.finished);
      process.exit(0);
    },
    () => {
      signal(VIEW_STATE.finished);
      process.exit(1);
    },
  );
});
