'use strict';
// Test package of tests/e2e/exercise_npm.rs: each export misbehaves in another way, and
// the last one must still be called. Exports are called in enumeration order.
module.exports = {
  aSpin() {
    for (;;) {
      /* a synchronous loop: cut by the per-call deadline */
    }
  },
  bNeverSettles() {
    return new Promise(() => {});
  },
  cExit() {
    process.exit(3);
  },
  dReadStdin() {
    return new Promise((resolve) => {
      process.stdin.on('data', resolve);
      process.stdin.on('end', () => resolve(''));
      process.stdin.on('error', () => resolve(''));
    });
  },
  eThrow() {
    throw new Error('no');
  },
  async fStarve() {
    // Endless resolved awaits: the event loop never reaches a timer again, and vm's
    // watchdog has long returned. Only the supervisor can end this call.
    for (;;) await null;
  },
  zLast(a, b) {
    return String(a) + String(b);
  },
};
