/**
 * Windows command lines: turning an argument vector into one command-line string and back, by the rules the
 * Microsoft C runtime and `CommandLineToArgvW` use to split a command line into `argv`.
 *
 * Windows hands a program one string, not a vector; every program splits it itself, and almost all of them (every
 * C/C++ program, Node.js, Python) split it the same way. The rules, in short:
 * - arguments are separated by spaces and tabs outside double quotes;
 * - a double quote starts or ends a quoted part (the quotes themselves are dropped);
 * - backslashes are literal, except in front of a double quote: `2n` backslashes then `"` give `n` backslashes and
 *   a quote that toggles quoting; `2n+1` backslashes then `"` give `n` backslashes and a literal `"`.
 *
 * So a UNC path such as `\\host\share\dir` needs no quoting and is passed exactly as written; a path with a space is
 * quoted; a trailing backslash inside quotes is doubled so that it does not escape the closing quote.
 *
 * The HPC Job Scheduler runs a task's `CommandLine` through `cmd.exe`. Arguments holding one of cmd.exe's special
 * characters (`& | < > ^ ( )`) are quoted, so cmd.exe passes them through; `%NAME%` is left alone on purpose, so
 * that references such as `%CCP_JOBID%` are expanded on the node as HPC Pack users expect.
 * @module
 */

/** Characters that separate arguments, or that force quoting so an argument stays one argument. */
const NEEDS_QUOTES = /[ \t\n\v"]/;

/** cmd.exe's special characters outside quotes: an argument holding one is quoted so cmd.exe leaves it alone. */
const CMD_SPECIAL = /[&|<>^()]/;

/**
 * Quote one argument so that the Windows rules split it back to exactly `arg`.
 * An argument that needs no quotes (no space, tab, quote or cmd.exe special character, and not empty) is returned
 * unchanged, so plain paths and UNC paths are kept exactly.
 * @example
 * ```ts
 * quoteWindowsArg('C:\\Program Files\\nodejs\\node.exe'); // '"C:\Program Files\nodejs\node.exe"'
 * quoteWindowsArg('\\\\host\\share\\tsengine.js');        // '\\host\share\tsengine.js' (unchanged)
 * quoteWindowsArg('C:\\dir with space\\');                // '"C:\dir with space\\"'
 * ```
 */
export function quoteWindowsArg(arg: string): string {
  if (arg !== '' && !NEEDS_QUOTES.test(arg) && !CMD_SPECIAL.test(arg)) return arg;
  let out = '"';
  let backslashes = 0;
  for (const ch of arg) {
    if (ch === '\\') {
      backslashes++;
    } else if (ch === '"') {
      // The backslashes before a quote are escapes: double them, then escape the quote itself.
      out += '\\'.repeat(backslashes * 2 + 1) + '"';
      backslashes = 0;
    } else {
      out += '\\'.repeat(backslashes) + ch;
      backslashes = 0;
    }
  }
  // Backslashes at the end sit before the closing quote: double them so the quote still closes.
  return out + '\\'.repeat(backslashes * 2) + '"';
}

/**
 * Join an argument vector into one Windows command line, quoting each argument by {@link quoteWindowsArg}.
 * `parseWindowsCommandLine(quoteWindowsCommandLine(argv))` gives `argv` back.
 */
export function quoteWindowsCommandLine(argv: readonly string[]): string {
  return argv.map(quoteWindowsArg).join(' ');
}

/**
 * Split a Windows command line into its arguments, by the Microsoft C runtime rules (the inverse of
 * {@link quoteWindowsCommandLine}).
 *
 * Inside a quoted part, two double quotes in a row give one literal quote and quoting goes on (the behaviour of the
 * C runtime since Visual C++ 2008). Every argument, the program name included, is split by the same rules; the
 * program name never differs in practice because Windows file names cannot hold a double quote.
 */
export function parseWindowsCommandLine(commandLine: string): string[] {
  const args: string[] = [];
  let current = '';
  let inArg = false; // an argument has started (needed for empty quoted arguments: "")
  let quoted = false;
  let i = 0;
  const n = commandLine.length;
  while (i < n) {
    const ch = commandLine[i]!;
    if (!quoted && (ch === ' ' || ch === '\t')) {
      if (inArg) {
        args.push(current);
        current = '';
        inArg = false;
      }
      i++;
      continue;
    }
    inArg = true;
    if (ch === '\\') {
      let count = 0;
      while (i < n && commandLine[i] === '\\') {
        count++;
        i++;
      }
      if (commandLine[i] === '"') {
        current += '\\'.repeat(Math.floor(count / 2));
        if (count % 2 === 1) {
          current += '"';
          i++;
        }
        // An even count leaves the quote for the next round, where it toggles quoting.
      } else {
        current += '\\'.repeat(count);
      }
      continue;
    }
    if (ch === '"') {
      if (quoted && commandLine[i + 1] === '"') {
        current += '"';
        i += 2;
        continue;
      }
      quoted = !quoted;
      i++;
      continue;
    }
    current += ch;
    i++;
  }
  if (inArg) args.push(current);
  return args;
}
