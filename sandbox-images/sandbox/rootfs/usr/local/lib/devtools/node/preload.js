// Why this exists: strace sees what a node package does to the kernel, but not the
// JavaScript-level shape of it: which child_process call ran a command, which string was
// compiled by vm or `new Function`, which URL an http request asked for before DNS. This
// preload (loaded by `node --require`, normally through NODE_OPTIONS so every node
// process of an install gets it) wraps those entry points and writes one JSON line per
// call to the airlock hook channel:
//
//   {"runtime":"node","event":"<name>","ts":<unix secs>,"pid":<pid>,"args":{...}}
//
// How it loads (issue 16: nothing a package sees names the analysis): the image's
// /etc/ld.so.preload library (shim/eatmydata.c) puts `--require <this file>` into the C
// environment of every node process at start, before node reads NODE_OPTIONS; it is never
// in the kernel's copy of the environment (/proc/<pid>/environ), in argv or in
// process.execArgv. This file then takes itself out of process.env.NODE_OPTIONS (so
// children see only what the program set) and out of require.cache, and wrappers answer
// toString() with the original's source.
//
// Channel: by convention the FIFO /run/log/dev-log (read by root), opened
// append+non-blocking. AIRLOCK_HOOK_FD (an inherited fd) and AIRLOCK_HOOK_PATH still
// override it (the host tests use them; the sandbox never sets them). Without a channel
// nothing is wrapped.
//
// Limits, stated plainly: the package runs in the same process and can undo all of this
// (restore originals kept elsewhere, e.g. via process.binding('spawn_sync'), reach the
// real Function through `(function(){}).constructor`, close the fd). Direct `eval` cannot
// be wrapped at all: replacing the global `eval` turns every direct eval into an indirect
// one and changes program behaviour, so it is left alone. The strace record taken from
// outside the process stands regardless; this adds detail and attribution.
//
// Rules this file keeps: never throw into the program (every wrapper body in try/catch,
// the original always called with the original `this` and arguments, its result or
// exception passed through untouched), never print, never re-enter itself.
'use strict';
(function () {
  const CHANNEL = '/run/log/dev-log';
  // Out of the variable a child inherits, and out of the module cache.
  try {
    const own = new RegExp('(^|\\s)(--require|-r)[ =]' + __filename.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '(?=\\s|$)', 'g');
    const rest = String(process.env.NODE_OPTIONS || '').replace(own, ' ').trim();
    if (rest) process.env.NODE_OPTIONS = rest;
    else delete process.env.NODE_OPTIONS;
    // The shim's CA bundle for this process (read at start); not passed on by variable.
    if (process.env.NODE_EXTRA_CA_CERTS === '/etc/ssl/certs/ca-certificates.crt') delete process.env.NODE_EXTRA_CA_CERTS;
  } catch (_) {
    /* ignore */
  }
  try {
    delete require.cache[__filename];
  } catch (_) {
    /* ignore */
  }
  let fd = -1;
  let busy = false;
  const MAX_STR = 300;
  const MAX_LINE = 3800; // below PIPE_BUF: one atomic write
  let fs;
  let writeSync;
  let fstatSync;
  let openSync;
  let createHash;
  // Real time for `ts`, even once a harness's virtual clock moved Date forward.
  const dateNow = Date.now;
  // A Windows or macOS persona pass (the engine sets that system's own variables: `OS`
  // on Windows, `__CF_USER_TEXT_ENCODING` on macOS): the package's node processes answer
  // as that system (persona.js). npm and node-gyp keep the truth, so the install itself
  // still works on the Linux it really runs on.
  try {
    const env = process.env;
    const os = env.OS === 'Windows_NT' ? 'windows' : env.__CF_USER_TEXT_ENCODING ? 'macos' : null;
    const main = String(process.argv[1] || '');
    const toolchain = /\/(npm|npx|npm-cli\.js|npx-cli\.js|node-gyp(\.js)?|yarn(\.js)?|pnpm(\.c?js)?|corepack)$|\/node_modules\/(npm|node-gyp|corepack|yarn|pnpm)\//.test(main);
    if (os && !toolchain) {
      const persona = require.resolve('./persona.js');
      require(persona).apply(os);
      delete require.cache[persona];
    }
  } catch (_) {
    /* ignore */
  }
  try {
    fs = require('fs');
    writeSync = fs.writeSync;
    fstatSync = fs.fstatSync;
    openSync = fs.openSync;
    createHash = require('crypto').createHash;
  } catch (_) {
    return;
  }
  try {
    const envFd = process.env.AIRLOCK_HOOK_FD;
    if (envFd && /^[0-9]+$/.test(envFd)) {
      const n = Number(envFd);
      try {
        fstatSync(n);
        fd = n;
      } catch (_) {
        fd = -1;
      }
    }
    const path = process.env.AIRLOCK_HOOK_PATH || CHANNEL;
    if (fd < 0 && fs.existsSync(path)) {
      const c = fs.constants;
      try {
        fd = openSync(path, c.O_WRONLY | c.O_APPEND | c.O_NONBLOCK);
      } catch (_) {
        fd = -1;
      }
    }
  } catch (_) {
    fd = -1;
  }
  if (fd < 0) return;

  // Wrappers (and the Function proxy) print the original's source: a program comparing
  // `String(child_process.exec)` with what it expects sees node's own code.
  const originals = new WeakMap(); // wrapper -> original
  try {
    const origToString = Function.prototype.toString;
    const toString = new Proxy(origToString, {
      apply(target, thisArg, args) {
        return Reflect.apply(target, originals.get(thisArg) || thisArg, args);
      },
    });
    originals.set(toString, origToString);
    Object.defineProperty(Function.prototype, 'toString', {
      value: toString, writable: true, enumerable: false, configurable: true,
    });
  } catch (_) {
    /* ignore */
  }

  function short(v, n) {
    n = n || MAX_STR;
    try {
      let s;
      if (typeof v === 'string') s = v;
      else if (Buffer.isBuffer(v)) s = v.toString('utf8', 0, Math.min(v.length, n * 2));
      else if (v instanceof URL) s = v.href;
      else if (v === undefined || v === null) return null;
      else if (typeof v === 'number' || typeof v === 'boolean') return v;
      else s = String(v);
      return s.length <= n ? s : s.slice(0, n) + '…';
    } catch (_) {
      return '?';
    }
  }

  function argv(a) {
    try {
      if (!Array.isArray(a)) return [];
      return a.slice(0, 20).map((x) => short(x));
    } catch (_) {
      return [];
    }
  }

  function digest(s) {
    try {
      const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
      return { size: b.length, sha256: createHash('sha256').update(b).digest('hex') };
    } catch (_) {
      return {};
    }
  }

  const DECODERS = ['atob(', "from('", 'from("', "'base64'", '"base64"', "'hex'", '"hex"',
    'fromCharCode', 'inflate', 'gunzip', 'decodeURIComponent', 'unescape(', '\\x', 'eval('];

  function codeArgs(src) {
    const out = Object.assign({ preview: short(src, 200) }, digest(src));
    try {
      const t = String(src).slice(0, 200000);
      const m = DECODERS.filter((d) => t.includes(d));
      if (m.length) out.decoders_in_source = m;
    } catch (_) {
      /* ignore */
    }
    return out;
  }

  function caller() {
    try {
      // Without the program's own prepareStackTrace (source-map-support and the like), so
      // no program code runs here.
      const e = {};
      const prevLimit = Error.stackTraceLimit;
      const prevPrepare = Error.prepareStackTrace;
      let stack = '';
      try {
        Error.prepareStackTrace = undefined;
        Error.stackTraceLimit = 6;
        Error.captureStackTrace(e, caller);
        stack = String(e.stack);
      } finally {
        Error.stackTraceLimit = prevLimit;
        Error.prepareStackTrace = prevPrepare;
      }
      const lines = stack.split('\n').slice(1);
      for (const l of lines) {
        if (!l.includes(__filename)) return short(l.trim().replace(/^at /, ''), 200);
      }
    } catch (_) {
      /* ignore */
    }
    return null;
  }

  function emit(event, args) {
    if (busy) return;
    busy = true;
    try {
      const clean = {};
      for (const k of Object.keys(args)) if (args[k] !== null && args[k] !== undefined) clean[k] = args[k];
      const where = caller();
      if (where) clean.caller = where;
      let line = JSON.stringify({
        runtime: 'node', event, ts: dateNow() / 1000, pid: process.pid, args: clean,
      });
      if (line.length > MAX_LINE) {
        for (const k of ['preview', 'command', 'argv', 'url']) {
          if (k in clean) clean[k] = Array.isArray(clean[k]) ? clean[k].slice(0, 3) : short(clean[k], 60);
        }
        clean.truncated = true;
        line = JSON.stringify({
          runtime: 'node', event, ts: dateNow() / 1000, pid: process.pid, args: clean,
        });
        if (line.length > MAX_LINE) return;
      }
      writeSync(fd, line + '\n');
    } catch (_) {
      /* ignore: a full or closed channel drops the event */
    } finally {
      busy = false;
    }
  }

  // Calls in progress per group, so that fs.readFileSync does not also report the
  // fs.openSync it makes, nor child_process.exec the execFile it makes.
  const depth = Object.create(null);

  // Replaces obj[name] with a wrapper that reports, then calls the original exactly.
  function wrap(obj, name, describe, group) {
    try {
      const orig = obj[name];
      if (typeof orig !== 'function' || originals.has(orig)) return;
      const wrapper = function () {
        if (!busy && !(group && depth[group] > 0)) {
          try {
            const d = describe.apply(null, arguments);
            if (d) emit(d[0], d[1]);
          } catch (_) {
            /* ignore */
          }
        }
        if (!group) {
          return new.target ? Reflect.construct(orig, arguments, new.target) : orig.apply(this, arguments);
        }
        depth[group] = (depth[group] || 0) + 1;
        try {
          return new.target ? Reflect.construct(orig, arguments, new.target) : orig.apply(this, arguments);
        } finally {
          depth[group] -= 1;
        }
      };
      for (const key of Reflect.ownKeys(orig)) {
        if (key === 'prototype' || key === 'arguments' || key === 'caller') continue;
        try {
          Object.defineProperty(wrapper, key, Object.getOwnPropertyDescriptor(orig, key));
        } catch (_) {
          /* ignore */
        }
      }
      try {
        wrapper.prototype = orig.prototype;
      } catch (_) {
        /* ignore */
      }
      originals.set(wrapper, orig);
      obj[name] = wrapper;
    } catch (_) {
      /* ignore */
    }
  }

  // ---- child_process ---------------------------------------------------------------
  try {
    const cp = require('child_process');
    const cmd = (ev) => (command) => [ev, { command: short(command, 2000) }];
    const file = (ev) => (f, args) => [ev, { file: short(f), argv: argv(Array.isArray(args) ? args : []) }];
    wrap(cp, 'exec', cmd('child_process.exec'), 'cp');
    wrap(cp, 'execSync', cmd('child_process.execSync'), 'cp');
    wrap(cp, 'spawn', file('child_process.spawn'), 'cp');
    wrap(cp, 'spawnSync', file('child_process.spawnSync'), 'cp');
    wrap(cp, 'execFile', file('child_process.execFile'), 'cp');
    wrap(cp, 'execFileSync', file('child_process.execFileSync'), 'cp');
    wrap(cp, 'fork', file('child_process.fork'), 'cp');
  } catch (_) {
    /* ignore */
  }

  // ---- code from strings -----------------------------------------------------------
  try {
    const vm = require('vm');
    const code = (ev) => (src) => (typeof src === 'string' ? [ev, codeArgs(src)] : null);
    wrap(vm, 'runInThisContext', code('vm.runInThisContext'));
    wrap(vm, 'runInNewContext', code('vm.runInNewContext'));
    wrap(vm, 'runInContext', code('vm.runInContext'));
    wrap(vm, 'compileFunction', code('vm.compileFunction'));
    wrap(vm, 'Script', code('vm.Script'));
  } catch (_) {
    /* ignore */
  }
  try {
    const OrigFunction = Function;
    const report = (args) => {
      if (busy) return;
      try {
        const body = args.length ? args[args.length - 1] : '';
        if (typeof body === 'string' && body.length > 0) emit('Function', codeArgs(body));
      } catch (_) {
        /* ignore */
      }
    };
    const proxy = new Proxy(OrigFunction, {
      apply(target, thisArg, args) {
        report(args);
        return Reflect.apply(target, thisArg, args);
      },
      construct(target, args, newTarget) {
        report(args);
        return Reflect.construct(target, args, newTarget === proxy ? target : newTarget);
      },
    });
    originals.set(proxy, OrigFunction);
    globalThis.Function = proxy;
  } catch (_) {
    /* ignore */
  }

  // ---- network ---------------------------------------------------------------------
  function connArgs(a) {
    try {
      const o = a[0];
      if (Array.isArray(o)) return connArgs(o); // internal normalized form
      if (o && typeof o === 'object') {
        return { host: short(o.host || o.hostname || null), port: short(o.port || null), path: short(o.path || null) };
      }
      if (typeof o === 'number' || /^[0-9]+$/.test(String(o))) {
        return { host: short(typeof a[1] === 'string' ? a[1] : 'localhost'), port: short(o) };
      }
      return { path: short(o) };
    } catch (_) {
      return {};
    }
  }
  try {
    const net = require('net');
    wrap(net.Socket.prototype, 'connect', function () {
      return ['net.connect', connArgs(Array.prototype.slice.call(arguments))];
    }, 'net');
  } catch (_) {
    /* ignore */
  }
  try {
    const tls = require('tls');
    wrap(tls, 'connect', function () {
      const a = Array.prototype.slice.call(arguments);
      const o = a.find((x) => x && typeof x === 'object') || {};
      return ['tls.connect', Object.assign(connArgs(a), { servername: short(o.servername || null) })];
    }, 'net');
  } catch (_) {
    /* ignore */
  }
  function reqArgs(proto) {
    return function () {
      try {
        const a = Array.prototype.slice.call(arguments);
        let url = null;
        let o = {};
        if (typeof a[0] === 'string' || a[0] instanceof URL) {
          url = short(String(a[0]), 1000);
          if (a[1] && typeof a[1] === 'object' && typeof a[1] !== 'function') o = a[1];
        } else if (a[0] && typeof a[0] === 'object') {
          o = a[0];
          const host = o.hostname || o.host || 'localhost';
          url = short(proto + '//' + host + (o.port ? ':' + o.port : '') + (o.path || '/'), 1000);
        }
        return [proto.replace(':', '') + '.request', { url, method: short(o.method || 'GET') }];
      } catch (_) {
        return null;
      }
    };
  }
  try {
    const http = require('http');
    wrap(http, 'request', reqArgs('http:'));
    wrap(http, 'get', reqArgs('http:'));
    const https = require('https');
    wrap(https, 'request', reqArgs('https:'));
    wrap(https, 'get', reqArgs('https:'));
  } catch (_) {
    /* ignore */
  }
  try {
    const dns = require('dns');
    const name = (ev) => (host, rr) => [ev, { host: short(host), rrtype: typeof rr === 'string' ? rr : null }];
    for (const fn of ['lookup', 'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCname',
      'resolveMx', 'resolveNs', 'resolveTxt', 'resolveSrv', 'reverse']) {
      wrap(dns, fn, name('dns.' + fn));
      if (dns.promises) wrap(dns.promises, fn, name('dns.promises.' + fn));
    }
  } catch (_) {
    /* ignore */
  }

  // ---- sensitive files ---------------------------------------------------------------
  const SENSITIVE = ['/.ssh/', '/.ssh', 'id_rsa', 'id_ed25519', 'id_ecdsa', '/.aws/', '/.aws',
    '/.azure/', '/.config/gcloud', '/.kube/config', '/.docker/config.json', '/.npmrc',
    '/.yarnrc', '/.pypirc', '/.netrc', '/.git-credentials', '/.gitconfig', '/.gnupg',
    '/.bash_history', '/.zsh_history', '/etc/shadow', '/etc/passwd', '/.bitcoin',
    '/.electrum', '/.ethereum', '/exodus', '/atomic/', '/.config/solana', 'wallet', 'keystore',
    '/.mozilla/firefox', '/.config/google-chrome', '/.config/chromium',
    '/.config/bravesoftware', '/login data', '/local state', '/cookies', '/.config/discord',
    'local storage/leveldb', '/run/secrets'];
  function sensitive(p) {
    try {
      if (typeof p === 'number') return null;
      const s = p instanceof URL ? p.pathname : Buffer.isBuffer(p) ? p.toString('utf8') : String(p);
      const l = s.toLowerCase();
      if (l.startsWith('/proc/') && (l.endsWith('/mem') || l.endsWith('/environ') || l.endsWith('/maps'))) return s;
      const base = l.split('/').pop();
      if (base === '.env' || base.startsWith('.env.')) return s;
      for (const x of SENSITIVE) if (l.includes(x)) return s;
    } catch (_) {
      /* ignore */
    }
    return null;
  }
  const fileEv = (ev) => (p, flags) => {
    const s = sensitive(p);
    return s === null ? null : [ev, { path: short(s), flags: typeof flags === 'string' || typeof flags === 'number' ? flags : null }];
  };
  try {
    for (const fn of ['readFileSync', 'readFile', 'openSync', 'open', 'createReadStream',
      'readdirSync', 'readdir', 'copyFileSync', 'copyFile']) {
      wrap(fs, fn, fileEv('fs.' + fn), 'fs');
    }
    if (fs.promises) {
      for (const fn of ['readFile', 'open', 'readdir', 'copyFile']) wrap(fs.promises, fn, fileEv('fs.promises.' + fn), 'fs');
    }
  } catch (_) {
    /* ignore */
  }

  // ES modules importing builtins see the wrapped functions too.
  try {
    require('module').syncBuiltinESMExports();
  } catch (_) {
    /* ignore */
  }

  // The exercise harness (only it) takes the originals of what it uses itself, then
  // removes this before the package loads.
  try {
    if (/\/bin\/exercise-npm\.js$/.test(String(process.argv[1] || ''))) {
      Object.defineProperty(process, '__originalOf', {
        value: (f) => originals.get(f) || f, configurable: true, enumerable: false,
      });
    }
  } catch (_) {
    /* ignore */
  }

  emit('airlock.loaded', { execPath: short(process.execPath), argv: argv(process.argv) });
})();
