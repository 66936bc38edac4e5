'use strict';
// The innocent-looking library the worm rides on.
function toHex(r, g, b) {
  return '#' + [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
}
module.exports = { toHex };
