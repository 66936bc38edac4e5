// Downloads the prebuilt binary for this platform from the project's GitHub release into
// this package's own directory, makes it executable and checks it runs (like esbuild's
// install.js or prebuild-install). Failure is not fatal: index.js falls back to JS.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const https = require('https');
const { execFileSync } = require('child_process');

const version = require('./package.json').version;
const target = `${os.platform()}-${os.arch()}`;
const url = `https://github.com/fastbin-dev/fastbin/releases/download/v${version}/fastbin-${target}.bin`;
const dest = path.join(__dirname, 'bin', `fastbin-${target}`);

function get(u, redirects, cb) {
  https.get(u, { headers: { 'User-Agent': 'fastbin-installer', Accept: 'application/octet-stream' } }, (res) => {
    if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location && redirects > 0) {
      res.resume();
      return get(res.headers.location, redirects - 1, cb);
    }
    if (res.statusCode !== 200) {
      res.resume();
      return cb(new Error(`HTTP ${res.statusCode}`));
    }
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => cb(null, Buffer.concat(chunks)));
  }).on('error', cb);
}

get(url, 5, (err, data) => {
  if (err) {
    console.warn(`fastbin: no prebuilt binary (${err.message}); using the JS fallback`);
    return;
  }
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.writeFileSync(dest, data);
  fs.chmodSync(dest, 0o755);
  try {
    const v = execFileSync(dest, ['--version'], { encoding: 'utf8', timeout: 10000 }).trim();
    console.log(`fastbin: installed ${target} binary ${v || '(no version output)'}`);
  } catch (e) {
    console.warn('fastbin: the binary does not run here; using the JS fallback');
  }
});
