// Leaves /tmp/runtime-probe/<phase>-node-<version> and, under npm,
// <phase>-npm-<version> (from npm's user agent), so a test sees which runtime ran.
const fs = require('fs');
const phase = process.argv[2] || 'import';
fs.mkdirSync('/tmp/runtime-probe', { recursive: true });
fs.writeFileSync(`/tmp/runtime-probe/${phase}-node-${process.version}`, '');
const ua = /npm\/([0-9.]+)/.exec(process.env.npm_config_user_agent || '');
if (ua) fs.writeFileSync(`/tmp/runtime-probe/${phase}-npm-${ua[1]}`, '');
