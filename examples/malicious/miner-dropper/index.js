'use strict';
module.exports = function parse(ua) {
  const m = /(Firefox|Chrome|Safari)\/([\d.]+)/.exec(String(ua));
  return m ? { browser: m[1], version: m[2] } : { browser: 'unknown' };
};
