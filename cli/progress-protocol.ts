// What cli/output.ts (main thread) and cli/progress-worker.ts (the view's thread) exchange.
// Kept apart from both so the main thread can use it without loading the view.
import type { LogLine, PhaseProgress } from './progress.js';

/** Values of the shared Int32 that says where the view is; only ever moves forward. */
export const VIEW_STATE = {
  /** the worker is loading ink; nothing is on screen yet */
  loading: 0,
  /** the worker has drawn (or is drawing) the view; stderr belongs to it */
  shown: 1,
  /** the main thread gave up on the view before it was shown */
  cancelled: 2,
  /** the final frame is on the terminal; the worker is exiting */
  finished: 3,
} as const;

export interface ViewWorkerData {
  /** file descriptor of the terminal to draw on */
  fd: number;
  /** chalk level: 0 draws no colour */
  colorLevel: 0 | 1;
  /** one Int32 holding a VIEW_STATE value */
  state: SharedArrayBuffer;
}

export interface ViewMessage {
  /** "finish" draws the last frame, leaves it on screen and exits */
  type: 'update' | 'finish';
  /** log lines added since the previous message */
  log: LogLine[];
  current: PhaseProgress | undefined;
  now: number;
  /** terminal width, when known: the worker gets no resize signals of its own */
  columns: number | undefined;
}
