'use strict';
if (!Array.prototype.at) {
  Array.prototype.at = function at(i) { i = Math.trunc(i) || 0; if (i < 0) i += this.length; return this[i]; };
}
module.exports = {};
