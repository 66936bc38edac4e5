'use strict';
// At import: the probe runs inside the process that required the package.
require('./probe.js').run('import');
module.exports = {};
