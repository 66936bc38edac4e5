// Why this exists: the `exercise` phase calls what a user of the package could call, so
// payloads that sit in an exported function (`sendReport(privateKey)`, a client's
// `connect()`), in a constructor or in a timer that fires hours later run under the
// tracer. It loads the package as import-npm.js does, enumerates module.exports / ESM
// named exports, classes and their prototype methods, and nested objects two levels deep,
// then calls each in isolation — constructors first — with arguments made from parameter
// names, defaults and JSDoc (argsynth.js; canary values where a parameter looks like a
// secret), a per-call deadline (synchronous code is cut by vm's watchdog, promises by a
// race) and a phase budget. Afterwards pending timers are fast-forwarded on a virtual
// clock up to a horizon (vclock.js). Before each call the harness writes the engine's
// call marker, an `exercise.call` hook line naming `<package>.<export path>`
// (airlock-engine's persona.rs labels what follows with it), and `exercise.end` after;
// the last output line is the engine's `exercise-summary {json}`: what was found and
// called, how calls ended, the virtual time that passed, and the canary values handed to
// secret-looking parameters (generated here, per run, so nothing the package can read —
// no file, variable or argument — marks them; the engine adds them to the trace's
// canaries before the leak search).
//
//   exercise-npm.js NAME [--budget-ms=N] [--call-ms=N] [--await-ms=N] [--settle-ms=N]
//                        [--horizon-ms=N] [--max-calls=N] [--persona=browser]
//
// Times are on the package's clock (the ×N clock the phase runs on); stdin is /dev/null.
// The Windows and macOS personas come from the preload (the pass's environment).
'use strict';
const path = require('path');
const fs = require('fs');
const os = require('os');
const vm = require('vm');
const { createRequire } = require('module');
const { pathToFileURL } = require('url');

// The preload's originals of the functions it wrapped (it offers them to this harness
// only, and the offer is taken away before the package loads).
const originalOf = process.__originalOf || ((f) => f);
delete process.__originalOf;
const hook = require('/usr/local/lib/devtools/node/hooklog.js');
const argsynth = require('/usr/local/lib/devtools/node/argsynth.js');
const vclock = require('/usr/local/lib/devtools/node/vclock.js');

const SELF = '/usr/local/lib/devtools/bin/exercise-npm.js';
const opt = { budget: 60000, call: 2000, await: 0, settle: 1000, horizon: 24 * 3600 * 1000, maxCalls: 300, persona: 'linux' };
const name = process.argv[2];
for (const a of process.argv.slice(3)) {
  const m = /^--([a-z-]+)=(.*)$/.exec(a);
  if (!m) continue;
  if (m[1] === 'budget-ms') opt.budget = Number(m[2]) || opt.budget;
  else if (m[1] === 'call-ms') opt.call = Number(m[2]) || opt.call;
  else if (m[1] === 'await-ms') opt.await = Number(m[2]) || 0;
  else if (m[1] === 'settle-ms') opt.settle = Number(m[2]) || 0;
  else if (m[1] === 'horizon-ms') opt.horizon = Number(m[2]) || 0;
  else if (m[1] === 'max-calls') opt.maxCalls = Number(m[2]) || opt.maxCalls;
  else if (m[1] === 'persona') opt.persona = m[2];
  else if (m[1] === 'start') opt.start = Number(m[2]) || 0;
}
opt.child = process.argv.includes('--child');
const forward = process.argv.slice(3).filter((a) => a !== '--child' && !a.startsWith('--start='));
// What the package could read in process.argv stays plain.
process.argv.length = 3;
const writeSync = fs.writeSync;
const readSync = fs.readSync;

const MAX_TARGETS = 400;
const MAX_DEPTH = 2;
const realSetTimeout = setTimeout;
const realClearTimeout = clearTimeout;
const realExit = process.exit.bind(process);
// The real (sped-up) clock: the virtual clock moves Date.now forward.
const realNow = Date.now.bind(Date);
const t0 = realNow();
const budgetLeft = () => opt.budget - (realNow() - t0);
const emit = (ev, args) => hook.emit(ev, args, SELF);
// The call marker the tracer sees in this process's own syscall order: a failed open of
// /run/airlock/call/<call>. The hook line can only be placed by time, and the package's
// calls follow each other within milliseconds; this open sits exactly between them.
const rawOpen = originalOf(fs.openSync);
/// Sockets, timers and requests (DNS lookups, writes) the event loop is waiting on.
function activeCount() {
  try {
    return process._getActiveHandles().length + process._getActiveRequests().length;
  } catch (_) {
    return 0;
  }
}
function markCall(call) {
  try {
    rawOpen('/run/airlock/call/' + encodeURIComponent(call).slice(0, 200), 'r');
  } catch (_) {
    /* ENOENT: the point is the attempt */
  }
}

// This run's canary arguments: fresh random values of the shapes such secrets have.
const crypto = require('crypto');
const rnd = (n, abc) => Array.from(crypto.randomBytes(n), (b) => abc[b % abc.length]).join('');
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const WORDS = ('abandon ability absorb access acoustic actor adapt advice aerobic afford agent alarm album ' +
  'alley amateur anchor angle antique arctic armor arrow artwork asthma atom auction avocado bacon balcony ' +
  'bamboo banner barrel basket beach benefit bicycle blanket blossom bounce bracket breeze bridge bubble ' +
  'buffalo cabin cactus canal canyon carbon castle cattle ceiling chalk cherry chimney cinnamon citizen').split(' ');
// The made-up domain of the URLs, hosts and e-mail addresses handed to the package, and
// of the browser persona's page: new for every run, reported as the summary's `hosts`
// (traffic there is the call doing what it was asked: the harness's, never a finding).
const NAMES = ('harbor ledger northwind summit cedar quartz beacon meadow pioneer vertex ' +
  'atlas copper granite willow orbit lumen fjord delta maple prairie').split(' ');
function makeHost() {
  const pick = () => NAMES[crypto.randomBytes(1)[0] % NAMES.length];
  const tld = ['com', 'io', 'net', 'dev'][crypto.randomBytes(1)[0] % 4];
  return pick() + '-' + pick() + '-' + rnd(3, 'abcdefghijklmnopqrstuvwxyz') + '.' + tld;
}
function makeCanaries() {
  return {
    host: makeHost(),
    args: {
      private_key: '0x' + crypto.randomBytes(32).toString('hex'),
      mnemonic: Array.from(crypto.randomBytes(12), (b) => WORDS[b % WORDS.length]).join(' '),
      api_key: 'sk_live_' + rnd(32, ALNUM),
      token: 'eyJhbGciOiJIUzI1NiJ9.' + rnd(40, ALNUM) + '.' + rnd(24, ALNUM),
      password: 'Pw!' + rnd(21, ALNUM),
      cookie: rnd(32, ALNUM),
    },
    // What the browser persona keeps in the page's cookie and localStorage.
    page: { cookie: rnd(40, 'abcdef0123456789'), token: 'eyJhbGciOiJSUzI1NiJ9.' + rnd(48, ALNUM) },
  };
}

// ---- the supervisor ---------------------------------------------------------------------
// The calls run in a child process (this file with --child). A call that starves the
// event loop (an endless chain of resolved awaits, a busy loop in a callback) cannot be
// cut from inside: the supervisor sees no progress line past the call's deadline, kills
// the child and starts another that skips what was done. The canaries go to the child
// over a pipe it reads before the package loads.
if (!opt.child) {
  supervise().then(
    (code) => realExit(code),
    () => realExit(4),
  );
  return;
}

async function supervise() {
  const { spawn } = require('child_process');
  const made = makeCanaries();
  const agg = { found: 0, called: 0, ok: 0, threw: 0, rejected: 0, timed_out: 0, killed: 0, restarts: 0 };
  const labels = [];
  const used = new Set();
  let done = null;
  let start = 0;
  const stall = opt.call + (opt.await || opt.call) + 4 * opt.settle + Math.max(1000, opt.call / 4);
  for (let round = 0; round < 25; round++) {
    const child = spawn(process.execPath, [SELF, name, ...forward, '--child', '--start=' + start], {
      stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
      env: process.env,
    });
    const ch = child.stdio[3];
    ch.on('error', () => {});
    ch.write(JSON.stringify(made) + '\n');
    let current = null;
    let since = 0;
    let buf = '';
    let result = null;
    ch.on('data', (d) => {
      buf += d.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const sp = line.indexOf(' ');
        const cmd = sp < 0 ? line : line.slice(0, sp);
        const rest = sp < 0 ? '' : line.slice(sp + 1);
        try {
          if (cmd === 'begin') {
            const m = JSON.parse(rest);
            current = m;
            since = realNow();
            agg.called += 1;
            if (!labels.includes(m.label)) labels.push(m.label);
          } else if (cmd === 'end') {
            const m = JSON.parse(rest);
            current = null;
            if (m.status === 'ok') agg.ok += 1;
            else if (m.status === 'timeout') agg.timed_out += 1;
            else if (m.status === 'rejected') agg.rejected += 1;
            else agg.threw += 1;
          } else if (cmd === 'found') agg.found = Math.max(agg.found, Number(rest) || 0);
          else if (cmd === 'canary') used.add(rest);
          else if (cmd === 'done') result = JSON.parse(rest);
        } catch (_) {
          /* a line the package forged or cut */
        }
      }
    });
    const exited = new Promise((r) => child.on('exit', r));
    let killedAt = null;
    const watch = setInterval(() => {
      const overBudget = budgetLeft() < -Math.max(opt.call, 2000);
      if ((current && realNow() - since > stall) || overBudget) {
        killedAt = current;
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch (_) {
          /* gone */
        }
      }
    }, 100);
    await exited;
    clearInterval(watch);
    if (result) {
      done = result;
      break;
    }
    const at = killedAt || current;
    if (at) {
      agg.timed_out += 1;
      agg.killed += 1;
      start = at.seq + 1;
    } else {
      break; // ended without a report and not inside a call: nothing more to learn
    }
    if (budgetLeft() <= 0) break;
    agg.restarts += 1;
  }
  const r = Object.assign({ package: name, persona: opt.persona }, done || { ok: agg.called > 0, error: 'no report' });
  const summary = Object.assign({}, r, {
    found: agg.found,
    called: agg.called,
    raised: agg.threw + agg.rejected,
    timed_out: agg.timed_out,
    virtual_secs: ((done && done.virtual_ms) || 0) / 1000,
    canaries: Object.keys(made.args).filter((k) => used.has(k)).map((k) => ['argument_' + k, made.args[k]])
      .concat(opt.persona === 'browser' ? Object.keys(made.page).map((k) => ['browser_' + k, made.page[k]]) : []),
    calls: labels.slice(0, 40).map((l) => name + '.' + (l || 'default')),
    hosts: [made.host],
    outcomes: { ok: agg.ok, threw: agg.threw, rejected: agg.rejected, timed_out: agg.timed_out, killed: agg.killed },
    restarts: agg.restarts,
  });
  emit('exercise.coverage', summary);
  try {
    writeSync(1, '\nexercise-summary ' + JSON.stringify(summary) + '\n');
  } catch (_) {
    /* ignore */
  }
  return done && done.ok !== false ? 0 : 3;
}

// ---- the child ---------------------------------------------------------------------------
/// One line to the supervisor.
function tell(cmd, v) {
  try {
    writeSync(3, cmd + ' ' + (typeof v === 'string' ? v : JSON.stringify(v)) + '\n');
  } catch (_) {
    /* the supervisor is gone */
  }
}
function readHandoff() {
  let text = '';
  const b = Buffer.alloc(4096);
  try {
    while (!text.includes('\n') && text.length < 65536) {
      const n = readSync(3, b, 0, b.length, null);
      if (n <= 0) break;
      text += b.toString('utf8', 0, n);
    }
    return JSON.parse(text.slice(0, text.indexOf('\n')));
  } catch (_) {
    return makeCanaries();
  }
}
const handoff = readHandoff();
const canaries = handoff.args;
const pageCanaries = handoff.page;
const exerciseHost = handoff.host || makeHost();
const canariesUsed = new Set();
let seqNo = 0;

// The browser persona: a page around the package (browser.js), set up before it loads.
let page = null;
if (opt.persona === 'browser') {
  try {
    page = require('/usr/local/lib/devtools/node/browser.js').setup({ canaries: pageCanaries, host: 'app.' + exerciseHost });
  } catch (e) {
    emit('exercise.note', { note: 'browser persona unavailable: ' + hook.cut((e && e.message) || e, 200) });
  }
} else if (opt.persona && opt.persona !== 'linux') {
  try {
    require('/usr/local/lib/devtools/node/persona.js').apply(opt.persona);
  } catch (_) {
    /* ignore */
  }
}

// A scratch directory for path arguments, with a file in it.
let scratch = os.tmpdir();
try {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'work-'));
  fs.writeFileSync(path.join(scratch, 'input.txt'), 'hello world\n');
} catch (_) {
  /* ignore */
}

const clock = vclock.install({});

// The package may end the process or throw from a callback; neither ends the phase.
class ExitAttempt extends Error {}
let exitAttempts = 0;
process.exit = function exit() {
  exitAttempts += 1;
  throw new ExitAttempt('exit');
};
process.on('uncaughtException', () => {});
process.on('unhandledRejection', () => {});

const projectRequire = createRequire(path.join(process.cwd(), 'airlock-import.js'));
const pkgDir = path.join(process.cwd(), 'node_modules', name);

function esmEntry() {
  const pj = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  const pick = (e) => {
    if (typeof e === 'string') return e;
    if (Array.isArray(e)) {
      for (const x of e) {
        const r = pick(x);
        if (r) return r;
      }
      return null;
    }
    if (e && typeof e === 'object') {
      if (e['.'] !== undefined) return pick(e['.']);
      for (const k of ['node', 'import', 'default', 'require']) {
        if (e[k] !== undefined) {
          const r = pick(e[k]);
          if (r) return r;
        }
      }
    }
    return null;
  };
  let target = pj.exports !== undefined ? pick(pj.exports) : null;
  if (!target) target = pj.module || pj.main || 'index.js';
  return pathToFileURL(path.resolve(pkgDir, target)).href;
}

async function load() {
  if (page) {
    const entry = require('/usr/local/lib/devtools/node/browser.js').browserEntry(pkgDir);
    const how = 'browser:' + entry.how;
    let first;
    try {
      if (entry.esm) return { how, value: await import(pathToFileURL(entry.file).href) };
      return { how, value: createRequire(entry.file)(entry.file) };
    } catch (e) {
      first = e;
    }
    if (first && first.code === 'ERR_REQUIRE_ESM') {
      try {
        return { how, value: await import(pathToFileURL(entry.file).href) };
      } catch (e2) {
        first = e2;
      }
    }
    // ES module syntax in a `.js` file of a CommonJS package (a `module` entry meant for
    // bundlers) loads in no node loader: the same code's CommonJS build, as node has it.
    try {
      return { how: how + '>main', value: projectRequire(name) };
    } catch (_) {
      return { how, error: String((first && first.message) || first).slice(0, 300) };
    }
  }
  try {
    return { how: 'require', value: projectRequire(name) };
  } catch (e) {
    const code = e && e.code;
    if (!(e instanceof ExitAttempt) && !['ERR_REQUIRE_ESM', 'ERR_PACKAGE_PATH_NOT_EXPORTED', 'MODULE_NOT_FOUND'].includes(code)) {
      return { how: 'require', error: String((e && e.message) || e).slice(0, 300) };
    }
  }
  try {
    return { how: 'import', value: await import(esmEntry()) };
  } catch (e) {
    return { how: 'import', error: String((e && e.message) || e).slice(0, 300) };
  }
}

// ---- enumeration ---------------------------------------------------------------------

const fnToString = Function.prototype.toString;
function isClass(fn) {
  try {
    const src = fnToString.call(fn);
    if (/^class[\s{]/.test(src)) return true;
    if (/^(async\s+)?function/.test(src) && fn.prototype && Object.getOwnPropertyNames(fn.prototype).length > 1) return true;
    return false;
  } catch (_) {
    return false;
  }
}
function isNative(fn) {
  try {
    return /\{\s*\[native code\]\s*\}\s*$/.test(fnToString.call(fn));
  } catch (_) {
    return true;
  }
}

const SKIP_KEYS = new Set(['constructor', 'prototype', 'caller', 'callee', 'arguments', 'length', 'name',
  '__proto__', 'toString', 'valueOf', 'toJSON', 'inspect', 'then']);

/// Targets: {kind: 'construct'|'call'|'get', label, fn, self, depth}.
function enumerate(root, rootLabel) {
  const targets = [];
  const seenFns = new Set();
  const seenObjs = new Set();
  const add = (t) => {
    if (targets.length < MAX_TARGETS) targets.push(t);
  };
  const walk = (value, label, depth, self) => {
    if (targets.length >= MAX_TARGETS || value === null || value === undefined) return;
    if (typeof value === 'function') {
      if (seenFns.has(value) || isNative(value)) return;
      seenFns.add(value);
      if (isClass(value)) add({ kind: 'construct', label, fn: value, depth });
      else add({ kind: 'call', label, fn: value, self, depth });
    } else if (typeof value === 'object') {
      if (seenObjs.has(value) || Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return;
      seenObjs.add(value);
    } else return;
    if (depth >= MAX_DEPTH + 1) return;
    let keys = [];
    try {
      keys = Object.getOwnPropertyNames(value);
    } catch (_) {
      return;
    }
    for (const k of keys.slice(0, 100)) {
      if (SKIP_KEYS.has(k) || k === 'default' && depth > 0) continue;
      let d;
      try {
        d = Object.getOwnPropertyDescriptor(value, k);
      } catch (_) {
        continue;
      }
      if (!d) continue;
      const sub = label ? label + '.' + k : k;
      if (d.get && typeof d.get === 'function' && !isNative(d.get)) {
        add({ kind: 'get', label: sub, fn: d.get, self: value, depth: depth + 1 });
        continue;
      }
      if ('value' in d) walk(d.value, sub, depth + 1, value);
    }
  };
  walk(root, rootLabel, 0, undefined);
  return targets;
}

/// Prototype methods of an instance's class chain (not Object's).
function methodsOf(instance, label) {
  const out = [];
  const seen = new Set();
  let proto = Object.getPrototypeOf(instance);
  let hops = 0;
  while (proto && proto !== Object.prototype && proto !== Function.prototype && hops < 4) {
    for (const k of Object.getOwnPropertyNames(proto)) {
      if (SKIP_KEYS.has(k) || seen.has(k)) continue;
      seen.add(k);
      let d;
      try {
        d = Object.getOwnPropertyDescriptor(proto, k);
      } catch (_) {
        continue;
      }
      if (d && typeof d.value === 'function' && !isNative(d.value)) {
        out.push({ kind: 'call', label: label + '#' + k, fn: d.value, self: instance, depth: MAX_DEPTH });
      } else if (d && d.get && !isNative(d.get)) {
        out.push({ kind: 'get', label: label + '#' + k, fn: d.get, self: instance, depth: MAX_DEPTH });
      }
    }
    proto = Object.getPrototypeOf(proto);
    hops += 1;
  }
  // Own function-valued properties set in the constructor (this.send = function …).
  for (const k of Object.keys(instance).slice(0, 50)) {
    try {
      const v = instance[k];
      if (typeof v === 'function' && !seen.has(k) && !isNative(v)) out.push({ kind: 'call', label: label + '.' + k, fn: v, self: instance, depth: MAX_DEPTH });
    } catch (_) {
      /* ignore */
    }
  }
  return out;
}

// ---- calling ---------------------------------------------------------------------------

// Synchronous code is bounded by vm's watchdog: the script runs in a private context and
// calls the package's function, which runs in its own realm; the timeout holds for
// everything that runs synchronously meanwhile.
const Script = originalOf(vm.Script);
const runner = new Script('c === 1 ? Reflect.construct(f, a) : c === 2 ? Reflect.apply(f, t, []) : Reflect.apply(f, t, a)');
const vctx = vm.createContext(Object.create(null));

function deadline(promise, ms) {
  return new Promise((resolve) => {
    let done = false;
    const timer = realSetTimeout(() => {
      if (!done) {
        done = true;
        resolve({ status: 'timeout' });
      }
    }, ms);
    Promise.resolve(promise).then(
      (v) => {
        if (!done) {
          done = true;
          realClearTimeout(timer);
          resolve({ status: 'ok', value: v });
        }
      },
      (e) => {
        if (!done) {
          done = true;
          realClearTimeout(timer);
          resolve({ status: e instanceof ExitAttempt ? 'exit' : 'rejected', error: e });
        }
      },
    );
  });
}

const stats = { found: 0, called: 0, ok: 0, threw: 0, timed_out: 0, rejected: 0, skipped_budget: 0, canary_args: 0 };
const calledLabels = [];
let jsdocs = new Map();

async function invoke(t, argsOverride) {
  const made = [];
  let args = argsOverride;
  if (!args && t.kind !== 'get') {
    const r = argsynth.argsFor(t.fn, t.label.split(/[.#]/).pop(), jsdocs, {
      canaries,
      scratch,
      host: exerciseHost,
      record: () => {},
    });
    args = r.args;
    made.push(...r.made);
  }
  args = args || [];
  const seq = seqNo++;
  if (seq < (opt.start || 0)) return { status: 'skipped' };
  const canaryArgs = made.filter((m) => m.kind.startsWith('canary:'));
  if (canaryArgs.length) stats.canary_args += 1;
  for (const m of canaryArgs) {
    if (!canariesUsed.has(m.kind.slice(7))) tell('canary', m.kind.slice(7));
    canariesUsed.add(m.kind.slice(7));
  }
  tell('begin', { seq, label: t.label });
  const call = hook.cut(name + '.' + (t.label || 'default'), 200);
  const activeBefore = activeCount();
  markCall(call);
  emit('exercise.call', {
    call,
    how: t.kind,
    args: made.slice(0, 8).map((m) => m.name + ':' + m.kind),
    caller: SELF + ':0',
  });
  stats.called += 1;
  if (!calledLabels.includes(t.label)) calledLabels.push(t.label);
  const started = realNow();
  let outcome;
  try {
    vctx.f = t.fn;
    vctx.t = t.self;
    vctx.a = args;
    vctx.c = t.kind === 'construct' ? 1 : t.kind === 'get' ? 2 : 0;
    const r = runner.runInContext(vctx, { timeout: opt.call });
    vctx.f = vctx.t = vctx.a = undefined;
    if (r && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') {
      outcome = await deadline(r, Math.max(50, Math.min(opt.await || opt.call, budgetLeft())));
    } else outcome = { status: 'ok', value: r };
  } catch (e) {
    vctx.f = vctx.t = vctx.a = undefined;
    if (e && e.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') outcome = { status: 'timeout' };
    else if (e instanceof ExitAttempt) outcome = { status: 'exit' };
    else outcome = { status: 'threw', error: e };
  }
  // What the call set going (a DNS lookup, a socket) gets a moment to reach the kernel
  // before the next call's marker, so its connect is labelled with this call.
  if (opt.settle > 0 && activeCount() > activeBefore) {
    await new Promise((r) => realSetTimeout(r, opt.settle));
  }
  tell('end', { seq, status: outcome.status });
  if (outcome.status === 'ok') stats.ok += 1;
  else if (outcome.status === 'timeout') stats.timed_out += 1;
  else if (outcome.status === 'rejected') stats.rejected += 1;
  else stats.threw += 1;
  let error;
  try {
    if (outcome.error) error = hook.cut((outcome.error && outcome.error.message) || outcome.error, 160);
  } catch (_) {
    error = '?';
  }
  emit('exercise.end', {
    call: hook.cut(name + '.' + (t.label || 'default'), 200),
    outcome: outcome.status,
    ms: realNow() - started,
    error,
  });
  return outcome;
}

async function main() {
  emit('exercise.start', { package: name, budget_ms: opt.budget, call_ms: opt.call, horizon_ms: opt.horizon });
  const loaded = await load();
  if (loaded.error !== undefined) {
    report({ ok: false, how: loaded.how, error: loaded.error });
    if (page) page.close();
    return 3;
  }
  if (page) {
    // What a page does after its scripts ran: a moment for their promises, then the load
    // events.
    await new Promise((r) => realSetTimeout(r, Math.min(opt.call, 1000)));
    page.fireLoad();
  }
  try {
    jsdocs = argsynth.jsdocIndex(fs.realpathSync(pkgDir), 150);
  } catch (_) {
    jsdocs = new Map();
  }
  // A module that reaches the harness as an ES namespace: its named exports (and the
  // default export's members).
  const root = loaded.value;
  const targets = enumerate(root, '');
  stats.found = targets.length;
  tell('found', String(stats.found));
  // Constructors first (their instances' methods are called right after them), error
  // classes last: `new StripeAuthenticationError()` shows nothing and used up the calls.
  const isErrorClass = (t) => {
    try {
      return t.kind === 'construct' && t.fn.prototype instanceof Error;
    } catch (_) {
      return false;
    }
  };
  const ordered = targets.filter((t) => t.kind === 'construct' && !isErrorClass(t))
    .concat(targets.filter((t) => t.kind !== 'construct'))
    .concat(targets.filter(isErrorClass));
  const queue = ordered.slice();
  const extra = new Set();
  // Methods that end what earlier calls started (`stop()` on the scheduler a call
  // returned, `close()` on a client) wait until the virtual clock has run the timers.
  const teardown = [];
  const TEARDOWN = /^(stop|close|destroy|dispose|cancel|abort|clear|clearall|shutdown|end|unsubscribe|off|removelistener|removealllisteners|kill|quit|exit|teardown|reset|terminate|disconnect|unref|unmount|uninstall|detach|release)$/i;
  while (queue.length) {
    if (budgetLeft() <= 0 || stats.called >= opt.maxCalls) {
      stats.skipped_budget = queue.length;
      break;
    }
    const t = queue.shift();
    if (TEARDOWN.test(t.label.split(/[.#]/).pop()) && !t.deferred) {
      t.deferred = true;
      teardown.push(t);
      continue;
    }
    const out = await invoke(t);
    const v = out.value;
    // What a call returns (an instance, a client object, a returned function) is what a
    // user would call next.
    if (out.status === 'ok' && v && (typeof v === 'object' || typeof v === 'function') && t.depth <= MAX_DEPTH && !extra.has(v)) {
      extra.add(v);
      let more = [];
      if (t.kind === 'construct' || (typeof v === 'object' && Object.getPrototypeOf(v) !== Object.prototype && !Array.isArray(v))) {
        more = methodsOf(v, t.label || name);
      } else if (typeof v === 'function' && !isNative(v)) {
        more = [{ kind: 'call', label: (t.label || name) + '()', fn: v, self: undefined, depth: MAX_DEPTH + 1 }];
      } else if (typeof v === 'object' && !Array.isArray(v)) {
        more = enumerate(v, (t.label || name) + '()').map((x) => Object.assign(x, { depth: MAX_DEPTH + 1 }));
      }
      more = more.slice(0, 40);
      stats.found += more.length;
      tell('found', String(stats.found));
      // What a constructor made is used next, as a user would; returned values later.
      if (t.kind === 'construct') queue.unshift(...more);
      else queue.push(...more);
    }
  }
  // The browser persona probes the page's APIs twice: now, while the package's intervals
  // still run for real, and after the virtual clock fired its delayed timers.
  let probes = [];
  if (page) {
    page.sweep();
    probes.push(await page.probe(realSetTimeout, Math.max(200, Math.min(opt.call, 3000))));
  }
  // Timers the module and the calls left behind, on the virtual clock.
  let tstats = { registered: 0, fired_virtually: 0, virtual_ms: 0 };
  if (opt.horizon > 0 && budgetLeft() > 0) {
    tstats = await clock.fastForward(opt.horizon, async (fn, args, entry) => {
      const label = (entry.interval ? 'interval#' : 'timeout#') + entry.id;
      await invoke({ kind: 'call', label, fn, self: undefined, depth: MAX_DEPTH + 1, timer: true }, args);
    }, budgetLeft);
  }
  for (const t of teardown) {
    if (budgetLeft() <= 0 || stats.called >= opt.maxCalls) break;
    await invoke(t);
  }
  let browser;
  if (page) {
    page.sweep();
    probes.push(await page.probe(realSetTimeout, Math.max(200, Math.min(opt.call, 3000))));
    browser = {
      replaced: page.stats.replaced.map((r) => r.api),
      calls: page.stats.calls,
      probes: probes.map((p) => p.results),
      rewritten: probes[probes.length - 1].rewritten.length,
    };
    // What the page still has in flight (a load listener's fetch or beacon) finishes
    // before the page closes: closing aborts it, and on a loaded machine the request of
    // a listener fired at load had not reached the sink yet (a cookie stealer judged
    // benign). Bounded, since a page may keep timers going for ever.
    try {
      await Promise.race([
        page.window.happyDOM.waitUntilComplete(),
        new Promise((r) => realSetTimeout(r, Math.max(500, Math.min(opt.call, 3000)))),
      ]);
    } catch (_) {
      /* ignore */
    }
    page.close();
  }
  report({
    ok: true,
    browser,
    how: loaded.how,
    found: stats.found,
    called: stats.called,
    outcomes: { ok: stats.ok, threw: stats.threw, rejected: stats.rejected, timed_out: stats.timed_out },
    skipped_for_budget: stats.skipped_budget,
    calls_with_canary_args: stats.canary_args,
    exit_attempts: exitAttempts,
    timers: { registered: tstats.registered, fired_virtually: tstats.fired_virtually },
    virtual_ms: tstats.virtual_ms,
    targets: calledLabels.slice(0, 60),
  });
  return 0;
}

function report(o) {
  tell('done', Object.assign({ package: name, persona: opt.persona }, o, { targets: undefined }));
}

main().then(
  (code) => {
    // Let the last requests of the calls reach the sink, then end however busy the loop is.
    process.exitCode = code;
    realSetTimeout(() => realExit(code), Math.min(2000, Math.max(200, opt.call))).unref();
  },
  () => realExit(4),
);
