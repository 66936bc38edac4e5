// Why this exists: time-delayed payloads (`setTimeout(steal, 6 * 3600e3)`, an interval
// that waits for a date) fire long after any phase ends, even on the ×20 clock. The
// harness installs this clock before the package loads: timers keep running for real as
// usual, and every timer is also remembered; once the module returned and the calls were
// made, `fastForward` runs the ones still pending in due order on a virtual clock, moving
// `Date` forward with them, up to a horizon (24 h by default), so their payload runs inside
// the phase. Intervals fire again until the horizon, with caps on firings so a 10 ms
// interval cannot spin for 24 virtual hours.
//
// What the package sees: `setTimeout`/`setInterval`/`clearTimeout`/`clearInterval` that
// behave as node's (they return node's own Timeout objects), a `Date` that is node's `Date`
// behind a Proxy (instanceof, prototype and statics unchanged) whose `now()` and
// argument-less construction add the virtual offset.
'use strict';
const timers = require('timers');

const OrigDate = Date;
const origNow = Date.now;
const real = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
};

function install(opts) {
  opts = opts || {};
  // An interval fires at its own period this many times, then at doubling steps, so a
  // check of the date every second still sees the horizon within a few dozen firings.
  const regularFirings = opts.regularFirings || 12;
  const maxFiringsPerInterval = opts.maxFiringsPerInterval || 60;
  const maxFirings = opts.maxFirings || 5000;
  let offset = 0; // virtual ms ahead of the real (already sped-up) clock
  let seq = 0;
  const pending = new Map(); // id -> entry
  const byHandle = new WeakMap(); // node Timeout -> entry
  const stats = { registered: 0, fired_virtually: 0, virtual_ms: 0, cut_intervals: 0, errors: 0 };

  const now = () => origNow.call(OrigDate) + offset;

  function register(fn, delay, args, interval) {
    const ms = Math.max(1, Number(delay) || 0);
    const e = { id: ++seq, fn, args, ms, interval, due: now() + ms, fired: 0, handle: null };
    stats.registered += 1;
    pending.set(e.id, e);
    return e;
  }

  function wrapTimeout(fn, delay, ...args) {
    if (typeof fn !== 'function') return real.setTimeout(fn, delay, ...args);
    const e = register(fn, delay, args, false);
    const h = real.setTimeout(function () {
      pending.delete(e.id);
      return fn.apply(this, args);
    }, delay);
    e.handle = h;
    byHandle.set(h, e);
    return h;
  }
  function wrapInterval(fn, delay, ...args) {
    if (typeof fn !== 'function') return real.setInterval(fn, delay, ...args);
    const e = register(fn, delay, args, true);
    const h = real.setInterval(function () {
      e.due = now() + e.ms;
      return fn.apply(this, args);
    }, delay);
    e.handle = h;
    byHandle.set(h, e);
    return h;
  }
  function forget(h) {
    try {
      const e = h && typeof h === 'object' ? byHandle.get(h) : null;
      if (e) pending.delete(e.id);
      else if (typeof h === 'number' || typeof h === 'string') {
        for (const x of pending.values()) if (x.handle && Number(x.handle) === Number(h)) pending.delete(x.id);
      }
    } catch (_) {
      /* ignore */
    }
  }
  function wrapClearTimeout(h) {
    forget(h);
    return real.clearTimeout(h);
  }
  function wrapClearInterval(h) {
    forget(h);
    return real.clearInterval(h);
  }
  for (const [name, f] of [['setTimeout', wrapTimeout], ['setInterval', wrapInterval],
    ['clearTimeout', wrapClearTimeout], ['clearInterval', wrapClearInterval]]) {
    Object.defineProperty(f, 'name', { value: name });
    try {
      for (const key of Reflect.ownKeys(real[name])) {
        if (key === 'name' || key === 'length' || key === 'prototype') continue;
        Object.defineProperty(f, key, Object.getOwnPropertyDescriptor(real[name], key));
      }
    } catch (_) {
      /* ignore */
    }
    globalThis[name] = f;
    try {
      timers[name] = f;
    } catch (_) {
      /* ignore */
    }
  }
  try {
    const tp = require('timers/promises');
    const origSleep = tp.setTimeout;
    tp.setTimeout = function setTimeout(ms, value, options) {
      if (options && options.signal) return origSleep(ms, value, options);
      return new Promise((resolve) => wrapTimeout(() => resolve(value), ms));
    };
  } catch (_) {
    /* ignore */
  }
  try {
    require('module').syncBuiltinESMExports();
  } catch (_) {
    /* ignore */
  }

  const vnow = function now() {
    return origNow.call(OrigDate) + offset;
  };
  globalThis.Date = new Proxy(OrigDate, {
    construct(target, args, newTarget) {
      const a = args.length === 0 ? [vnow()] : args;
      return Reflect.construct(target, a, newTarget === globalThis.Date ? target : newTarget);
    },
    apply(target) {
      return new OrigDate(vnow()).toString();
    },
    get(target, key, receiver) {
      if (key === 'now') return vnow;
      return Reflect.get(target, key, receiver);
    },
  });

  /// Runs pending timers in due order on the virtual clock until `horizonMs` of virtual
  /// time passed (or nothing is pending). `runOne(fn, args)` calls one callback and
  /// returns a promise (the caller bounds it with its own deadline).
  async function fastForward(horizonMs, runOne, budgetLeft) {
    const start = now();
    const end = start + horizonMs;
    let firings = 0;
    for (;;) {
      if (firings >= maxFirings || (budgetLeft && budgetLeft() <= 0)) break;
      let next = null;
      for (const e of pending.values()) if (!next || e.due < next.due) next = e;
      if (!next || next.due > end) break;
      if (next.due > now()) offset += next.due - now();
      firings += 1;
      next.fired += 1;
      stats.fired_virtually += 1;
      if (next.interval) {
        if (next.fired >= maxFiringsPerInterval) {
          pending.delete(next.id);
          stats.cut_intervals += 1;
          real.clearInterval(next.handle);
        } else {
          const k = next.fired - regularFirings;
          const due = now() + (k > 0 ? next.ms * Math.pow(2, Math.min(k, 40)) : next.ms);
          // The last doubling step lands on the horizon itself, so a check for "N hours
          // later" below the horizon always sees a time past it.
          if (due > end && now() < end) next.due = end;
          else next.due = due;
        }
      } else {
        pending.delete(next.id);
        real.clearTimeout(next.handle);
      }
      try {
        await runOne(next.fn, next.args || [], next);
      } catch (_) {
        stats.errors += 1;
      }
    }
    stats.virtual_ms = Math.max(0, now() - start);
    // Intervals still registered keep ticking for real; stop them so the phase can end.
    for (const e of pending.values()) {
      try {
        if (e.interval) real.clearInterval(e.handle);
      } catch (_) {
        /* ignore */
      }
    }
    return stats;
  }

  return {
    fastForward,
    stats,
    pendingCount: () => pending.size,
    offset: () => offset,
    real,
  };
}

module.exports = { install, real };
