// When output gets colour, and the means to draw it. chalk itself is loaded only when some
// stream gets colour (a terminal, or FORCE_COLOR): importing it costs about 10 ms, which every
// piped or scripted run would otherwise pay at startup. Streams without colour get PLAIN.
import type { ChalkInstance } from 'chalk';

export type ChalkConstructor = typeof import('chalk').Chalk;

/**
 * Colour on a stream: NO_COLOR (set and not empty) turns it off, whatever else is set, as
 * no-color.org asks; otherwise FORCE_COLOR (other than "0" or "false") turns it on even
 * without a terminal; otherwise only a terminal that is not TERM=dumb gets colour.
 */
export function colorEnabled(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force !== 'false';
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

/** Styles nothing, like a chalk instance of level 0, without loading chalk. */
export const PLAIN: ChalkInstance = plainInstance();

function plainInstance(): ChalkInstance {
  const join = (...parts: unknown[]) => parts.join(' ');
  // Every style (red, bold, bgBlue.dim, ...) is this same function; symbols and "then" are left
  // alone so the object never passes for a promise or breaks string conversion.
  const plain: unknown = new Proxy(join, {
    get: (target, property) => {
      if (property === 'level') return 0;
      if (typeof property === 'symbol' || property === 'then') return Reflect.get(target, property);
      return plain;
    },
  });
  return plain as ChalkInstance;
}

/** chalk's constructor when any of the streams gets colour, else undefined (nothing loaded). */
export async function loadChalk(streams: NodeJS.WriteStream[], env: NodeJS.ProcessEnv = process.env): Promise<ChalkConstructor | undefined> {
  if (!streams.some((s) => colorEnabled(s, env))) return undefined;
  return (await import('chalk')).Chalk;
}

/** The styles for one stream: chalk when the stream gets colour and chalk was loaded, else PLAIN. */
export function chalkFor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env, chalk?: ChalkConstructor): ChalkInstance {
  return chalk && colorEnabled(stream, env) ? new chalk({ level: 1 }) : PLAIN;
}
