/**
 * How `tscluster` commands talk to the user: log lines tagged with the command (`[tscluster start] …`, as ipcluster
 * tags its own), quieted by `--log-level warn|error`, and a progress line that rewrites itself on a terminal and
 * becomes plain log lines anywhere else (a log file, a pipe, CI).
 * @module
 */

/** The levels `--log-level` takes, least severe first. */
const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** A stream the reporter writes to: stdout or stderr, or anything with `write` (and maybe `isTTY`). */
export interface OutputStream {
  /** Write text. */
  write(text: string): unknown;
  /** Whether it is a terminal (progress lines rewrite themselves there). */
  isTTY?: boolean;
}

/** Prints a command's messages. */
export class Reporter {
  #progressShown = false;
  #lastProgress = '';
  readonly #minLevel: number;

  /**
   * @param tag the command, shown in front of every line (`tscluster start`).
   * @param level the `--log-level` given (default `info`).
   * @param out where info lines and progress go (default stdout).
   * @param err where warnings and errors go (default stderr).
   */
  constructor(
    private readonly tag: string,
    level: string | undefined,
    private readonly out: OutputStream = process.stdout,
    private readonly err: OutputStream = process.stderr,
  ) {
    this.#minLevel = Math.max(0, LEVELS.indexOf((level ?? 'info') as (typeof LEVELS)[number]));
  }

  /** An informational line (hidden by `--log-level warn` and `error`). */
  info(message: string): void {
    if (this.#minLevel <= 1) this.#line(this.out, message);
  }

  /** A warning (hidden by `--log-level error`). */
  warn(message: string): void {
    if (this.#minLevel <= 2) this.#line(this.err, `warning: ${message}`);
  }

  /** Text printed as it is (a command's actual output: a table, a path), never quieted. */
  print(text: string): void {
    this.#endProgress();
    this.out.write(text.endsWith('\n') ? text : text + '\n');
  }

  /**
   * Show progress. On a terminal the line is rewritten in place; elsewhere each new state is one log line, so a log
   * file records every step without carriage returns.
   */
  progress(message: string): void {
    if (this.#minLevel > 1 || message === this.#lastProgress) return;
    this.#lastProgress = message;
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[K[${this.tag}] ${message}`);
      this.#progressShown = true;
    } else {
      this.out.write(`[${this.tag}] ${message}\n`);
    }
  }

  #line(stream: OutputStream, message: string): void {
    this.#endProgress();
    stream.write(`[${this.tag}] ${message}\n`);
  }

  /** Finish a rewriting progress line, so the next line starts on its own. */
  #endProgress(): void {
    if (this.#progressShown) {
      this.out.write('\n');
      this.#progressShown = false;
    }
  }
}
