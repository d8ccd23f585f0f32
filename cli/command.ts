// The contract between the dispatcher (bin/, cli/) and one subcommand (commands/<name>.ts).
// A command module is thin: it declares its arguments and options, and its `run` makes one
// library call, prints through `io`, and returns an exit code. It never calls process.exit.
import type { Command } from 'commander';
import type { ExitCode } from '../format/errors.js';
import type { Output } from './output.js';

export interface CommandSpec {
  /** subcommand name as typed: "mkfs", "dump", "fsck" ... */
  name: string;
  /** one line for `strata --help` */
  summary: string;
  /** an example invocation shown in `strata <name> --help` */
  examples: string[];
  /** declare arguments, options and (for dump) sub-subcommands on the commander object */
  configure(cmd: Command): void;
  /**
   * Run with what commander parsed: positional args, then the options object.
   * Returns the exit code. Throw StrataError subclasses for failures; the dispatcher maps them.
   */
  run(args: string[], options: Record<string, unknown>, out: Output): Promise<ExitCode | number>;
}
