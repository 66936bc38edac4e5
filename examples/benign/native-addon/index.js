'use strict';
// Loads the compiled addon; falls back to plain JS when the build did not happen.
let add;
try {
  add = require('./build/Release/tiny.node').add;
} catch (e) {
  add = (a, b) => a + b;
}
module.exports = { add };
