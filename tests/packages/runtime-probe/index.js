// The import phase's side of the probe (see probe.js).
const fs = require('fs');
fs.mkdirSync('/tmp/runtime-probe', { recursive: true });
fs.writeFileSync(`/tmp/runtime-probe/import-node-${process.version}`, '');
module.exports = { version: process.version };
