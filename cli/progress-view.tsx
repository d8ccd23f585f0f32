// The progress view on a terminal: one live line for the phase in progress (bar, percent,
// amount, rate, time left, errors) under the lines that stay: warnings, and a summary of each
// phase that ended. When the work ends the live line turns into its summary, so the screen keeps
// a record of what was done.
//
// This module imports ink and react, which take about half a second to load; only
// cli/output.ts imports it, dynamically, once a terminal needs it.
import { Box, Static, Text, render } from 'ink';
import type { ChalkInstance } from 'chalk';
import { type LogLine, type PhaseProgress, type ProgressSnapshot, outcomeMark, phaseSummary, progressParts, formatErrors } from './progress.js';

const BAR_CELLS = 20;

export interface ProgressViewProps {
  snapshot: ProgressSnapshot;
  /** colours of the stream the view is drawn on (a level-0 instance draws none) */
  color: ChalkInstance;
}

export function ProgressView({ snapshot, color }: ProgressViewProps) {
  return (
    <Box flexDirection="column">
      <Static items={snapshot.log as LogLine[]}>
        {(line, index) => (
          <Text key={index}>{logLineText(line, color)}</Text>
        )}
      </Static>
      {snapshot.current !== undefined && <LivePhase phase={snapshot.current} now={snapshot.now} color={color} />}
    </Box>
  );
}

function LivePhase({ phase, now, color }: { phase: PhaseProgress; now: number; color: ChalkInstance }) {
  const parts = progressParts(phase, now);
  const pieces = [color.bold(parts.phase)];
  if (parts.percent !== undefined) pieces.push(`${bar(parts.percent, color)} ${String(parts.percent).padStart(3)}%`);
  pieces.push(parts.amount);
  if (parts.rate !== undefined) pieces.push(parts.rate);
  if (parts.eta !== undefined) pieces.push(parts.eta);
  if (parts.errors !== undefined) pieces.push(parts.errors > 0 ? color.red(formatErrors(parts.errors)) : formatErrors(parts.errors));
  return <Text wrap="truncate-end">{pieces.join('  ')}</Text>;
}

function bar(percent: number, color: ChalkInstance): string {
  const filled = Math.round((percent / 100) * BAR_CELLS);
  return color.cyan('█'.repeat(filled)) + color.dim('░'.repeat(BAR_CELLS - filled));
}

function logLineText(line: LogLine, color: ChalkInstance): string {
  if (line.kind === 'text') return line.text;
  return `${outcomeMark(line.outcome, color)} ${phaseSummary(line.phase, line.endedAt, line.outcome, color)}`;
}

/** A mounted view: redraw with a newer snapshot, or draw the last one and leave it on screen. */
export interface ProgressViewHandle {
  update(snapshot: ProgressSnapshot): void;
  /** draws the final snapshot, unmounts, and resolves once the terminal has it all */
  finish(snapshot: ProgressSnapshot): Promise<void>;
}

export function mountProgressView(stream: NodeJS.WriteStream, color: ChalkInstance, snapshot: ProgressSnapshot): ProgressViewHandle {
  // stdin and Ctrl+C stay ours: the command's AbortSignal handles interrupts, and ink must not
  // put the terminal in raw mode or keep the process alive reading input.
  const instance = render(<ProgressView snapshot={snapshot} color={color} />, {
    stdout: stream,
    stderr: stream,
    exitOnCtrlC: false,
    patchConsole: false,
  });
  return {
    update(next) {
      instance.rerender(<ProgressView snapshot={next} color={color} />);
    },
    finish(last) {
      // Ask for the exit promise before unmounting: asked afterwards it would never settle.
      const exited = instance.waitUntilExit();
      instance.rerender(<ProgressView snapshot={last} color={color} />);
      instance.unmount();
      return exited.then(() => undefined);
    },
  };
}
