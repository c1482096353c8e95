import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseWindowsCommandLine, quoteWindowsArg, quoteWindowsCommandLine } from '../../../src/launchers/windows-hpc/cmdline.js';

describe('quoteWindowsArg', () => {
  const cases: [string, string, string][] = [
    ['plain word', 'tsengine', 'tsengine'],
    ['empty argument', '', '""'],
    ['space', 'C:\\Program Files\\nodejs\\node.exe', '"C:\\Program Files\\nodejs\\node.exe"'],
    ['tab', 'a\tb', '"a\tb"'],
    ['embedded quotes', 'say "hi"', '"say \\"hi\\""'],
    ['quote without spaces', 'a"b', '"a\\"b"'],
    ['backslashes before a quote', 'a\\"b', '"a\\\\\\"b"'],
    ['trailing backslash with a space', 'C:\\dir with space\\', '"C:\\dir with space\\\\"'],
    ['trailing backslash without a space is kept as is', 'C:\\dir\\', 'C:\\dir\\'],
    ['UNC path kept exactly', '\\\\blue\\domainusers$\\bgranger\\.ipython', '\\\\blue\\domainusers$\\bgranger\\.ipython'],
    ['UNC path with a space', '\\\\host\\my share\\x', '"\\\\host\\my share\\x"'],
    ['backslashes in the middle stay single', 'a\\\\b c', '"a\\\\b c"'],
    ['cmd.exe special characters are quoted', 'a&b|c', '"a&b|c"'],
    ['percent is left for cmd.exe to expand', '%CCP_JOBID%', '%CCP_JOBID%'],
  ];
  for (const [what, arg, quoted] of cases) {
    test(what, () => {
      assert.equal(quoteWindowsArg(arg), quoted);
      assert.deepEqual(parseWindowsCommandLine(quoted), [arg]);
    });
  }
});

describe('parseWindowsCommandLine', () => {
  // The classic cases of the Microsoft C runtime rules.
  const cases: [string, string[]][] = [
    ['"abc" d e', ['abc', 'd', 'e']],
    ['a\\\\\\b d"e f"g h', ['a\\\\\\b', 'de fg', 'h']],
    ['a\\\\\\"b c d', ['a\\"b', 'c', 'd']],
    ['a\\\\\\\\"b c" d e', ['a\\\\b c', 'd', 'e']],
    ['  leading   and trailing\t', ['leading', 'and', 'trailing']],
    ['"" x ""', ['', 'x', '']],
    ['"a""b"', ['a"b']],
    ['', []],
    ['\\\\host\\share\\node.exe \\\\host\\share\\tsengine.js', ['\\\\host\\share\\node.exe', '\\\\host\\share\\tsengine.js']],
  ];
  for (const [line, argv] of cases) {
    test(JSON.stringify(line), () => assert.deepEqual(parseWindowsCommandLine(line), argv));
  }
});

describe('round trip', () => {
  test('quoteWindowsCommandLine keeps a typical engine command line readable', () => {
    const argv = ['C:\\Python27\\node.exe', '\\\\blue\\share\\tsengine.js', '--connection-file', 'C:\\Users\\me\\a b\\engine.json'];
    const line = quoteWindowsCommandLine(argv);
    assert.equal(line, 'C:\\Python27\\node.exe \\\\blue\\share\\tsengine.js --connection-file "C:\\Users\\me\\a b\\engine.json"');
    assert.deepEqual(parseWindowsCommandLine(line), argv);
  });

  test('parse(quote(argv)) == argv for many random vectors', () => {
    // A small deterministic generator (xorshift), so a failure reproduces.
    let seed = 0x9e3779b9;
    const next = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    const alphabet = ['a', 'Z', ' ', '\t', '"', '\\', '\\\\', '&', '%', '^', 'é', '日', '\n', "'", '$'];
    for (let round = 0; round < 3000; round++) {
      const argv = Array.from({ length: 1 + Math.floor(next() * 5) }, () =>
        Array.from({ length: Math.floor(next() * 8) }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''),
      );
      const line = quoteWindowsCommandLine(argv);
      assert.deepEqual(parseWindowsCommandLine(line), argv, `round ${round}: ${JSON.stringify(argv)} -> ${line}`);
    }
  });
});
