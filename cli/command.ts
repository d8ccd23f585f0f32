// The contract between the dispatcher (cli/main.ts) and one subcommand (commands/<name>.ts).
// A command module is thin: it declares its arguments and options, and its handler makes one
// library call, prints through `ctx.out`, and returns an exit code. It never calls
// process.exit. Command modules import heavy code lazily inside handlers, so `strata --help`
// loads none of it.
import type { Command } from 'commander';
import type { Output } from './output.js';

export interface RunContext {
  out: Output;
  /** aborted on SIGINT/SIGTERM; long work checks it and stops cleanly (exit 32) */
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
}

/** Wraps a handler into a commander action: builds the context, maps errors to exit codes. */
export type Act = (json: boolean, handler: (ctx: RunContext) => Promise<number>) => Promise<void>;

export interface CommandSpec {
  /** subcommand name as typed: "mkfs", "dump", "fsck" ... */
  name: string;
  /** one line for `strata --help` */
  summary: string;
  /** example invocations shown in `strata <name> --help` */
  examples: string[];
  /** declare arguments, options and actions (sub-subcommands for dump) */
  configure(cmd: Command, act: Act): void;
}
