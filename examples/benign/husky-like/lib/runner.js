'use strict';
// Runs the command configured under "hookly": { "hooks": { "<name>": "<cmd>" } }.
const { execSync } = require('child_process');
const path = require('path');
const name = process.argv[2];
let cmd;
try {
  cmd = require(path.join(process.cwd(), 'package.json')).hookly.hooks[name];
} catch (e) {}
if (cmd) execSync(cmd, { stdio: 'inherit' });
