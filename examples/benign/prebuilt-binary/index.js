'use strict';
module.exports = { run: (args) => `fastbin (js fallback) ${args.join(' ')}` };
