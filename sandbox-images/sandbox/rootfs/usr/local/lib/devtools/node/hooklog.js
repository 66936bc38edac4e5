// Why this exists: the exercise and browser harnesses report what they did (which export
// they called, with what kind of arguments, how much virtual time passed) and what they
// saw the package do inside the JavaScript world (a wrapped `fetch`, a rewritten wallet
// recipient) on the same hook channel the preload writes, in the same line format
// (sandbox-images/HOOKS.md). Lines are written with the fs functions captured when this
// file loads, so a package that later replaces fs.writeSync cannot read or drop them.
//
// `caller` decides attribution (crates/airlock-events/src/attribution.rs): harness
// bookkeeping lines carry the harness's own path (harness, never a finding); lines that
// describe the package's act carry the package file that acted, taken from a stack.
'use strict';
const fs = require('fs');

const MAX_LINE = 3800; // below PIPE_BUF: one atomic write
const writeSync = fs.writeSync;
const openSync = fs.openSync;
const fstatSync = fs.fstatSync;
const stringify = JSON.stringify;
// Real time even after the virtual clock moved Date forward (vclock.js).
const dateNow = Date.now;
const HARNESS_DIRS = ['/usr/local/lib/devtools/', 'node:internal', 'internal/'];

let fd = -1;
function open() {
  if (fd >= 0) return fd;
  try {
    const envFd = process.env.AIRLOCK_HOOK_FD;
    if (envFd && /^[0-9]+$/.test(envFd)) {
      try {
        fstatSync(Number(envFd));
        fd = Number(envFd);
      } catch (_) {
        fd = -1;
      }
    }
    // The channel by convention (the preload's); the variable only on the host's tests.
    const path = process.env.AIRLOCK_HOOK_PATH || '/run/log/dev-log';
    if (fd < 0 && fs.existsSync(path)) {
      const c = fs.constants;
      fd = openSync(path, c.O_WRONLY | c.O_APPEND | c.O_NONBLOCK);
    }
  } catch (_) {
    fd = -1;
  }
  return fd;
}

function cut(s, n) {
  s = String(s);
  return s.length <= n ? s : s.slice(0, n) + '…';
}

/// Writes one hook line; `args.caller` defaults to `who` (a harness path).
function emit(event, args, who) {
  if (open() < 0) return false;
  try {
    const a = Object.assign({}, args);
    if (!a.caller) a.caller = who || '/usr/local/lib/devtools/bin/exercise-npm.js';
    let line = stringify({ runtime: 'node', event, ts: dateNow() / 1000, pid: process.pid, args: a });
    if (line.length > MAX_LINE) {
      for (const k of Object.keys(a)) {
        if (typeof a[k] === 'string' && a[k].length > 200) a[k] = cut(a[k], 200);
        else if (Array.isArray(a[k]) && a[k].length > 10) a[k] = a[k].slice(0, 10);
      }
      a.truncated = true;
      line = stringify({ runtime: 'node', event, ts: dateNow() / 1000, pid: process.pid, args: a });
      if (line.length > MAX_LINE) return false;
    }
    writeSync(fd, line + '\n');
    return true;
  } catch (_) {
    return false;
  }
}

/// The first stack frame outside airlock's harness and node's internals: the package's
/// code that is running right now (`/path/file.js:12:5`), or null.
function packageFrame(skip) {
  const prevLimit = Error.stackTraceLimit;
  const prevPrepare = Error.prepareStackTrace;
  let stack = '';
  try {
    Error.prepareStackTrace = undefined;
    Error.stackTraceLimit = 40;
    const e = {};
    Error.captureStackTrace(e, skip || packageFrame);
    stack = String(e.stack);
  } catch (_) {
    return null;
  } finally {
    Error.stackTraceLimit = prevLimit;
    Error.prepareStackTrace = prevPrepare;
  }
  for (const raw of stack.split('\n').slice(1)) {
    const l = raw.trim().replace(/^at /, '');
    const m = /\(?((?:file:\/\/)?\/[^()]+?:\d+:\d+)\)?$/.exec(l);
    if (!m) continue;
    const loc = m[1].replace(/^file:\/\//, '');
    if (HARNESS_DIRS.some((d) => loc.startsWith(d))) continue;
    return cut(loc, 300);
  }
  return null;
}

module.exports = { emit, packageFrame, cut };
