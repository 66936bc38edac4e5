'use strict';

// tinted: a tiny ANSI colour helper. This is the clean release; the next patch release
// (tests/packages/diff-new) appends an obfuscated wallet hijacker to this file.

const codes = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  gray: [90, 39],
};

const enabled = () =>
  typeof process !== 'undefined' &&
  process.stdout &&
  process.stdout.isTTY &&
  !('NO_COLOR' in process.env);

function paint(name, text) {
  const [open, close] = codes[name];
  if (!enabled()) return String(text);
  return `\u001b[${open}m${text}\u001b[${close}m`;
}

const tinted = {};
for (const name of Object.keys(codes)) {
  tinted[name] = (text) => paint(name, text);
}
tinted.strip = (text) => String(text).replace(/\u001b\[\d+m/g, '');

module.exports = tinted;
