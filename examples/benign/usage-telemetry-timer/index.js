'use strict';
const https = require('https');
const crypto = require('crypto');
const os = require('os');

// Like the telemetry of Next.js, Nuxt, Angular CLI or Gatsby: counts, a salted anonymous
// id and versions, flushed to the vendor every hour, never environment values.
const counts = {};
const anonymousId = crypto.createHash('sha256').update('salt:' + os.hostname()).digest('hex').slice(0, 16);

function record(eventName) {
  if (process.env.DO_NOT_TRACK === '1') return;
  counts[eventName] = (counts[eventName] || 0) + 1;
}

function flush() {
  const events = Object.keys(counts).map((k) => ({ name: k, count: counts[k] }));
  if (events.length === 0) return;
  const body = JSON.stringify({ anonymousId, node: process.version, platform: process.platform, events });
  const req = https.request('https://telemetry.devtool-stats.io/api/v1/batch', { method: 'POST', headers: { 'content-type': 'application/json' } });
  req.on('error', () => {});
  req.end(body);
  for (const k of Object.keys(counts)) delete counts[k];
}

record('load');
setInterval(flush, 60 * 60 * 1000).unref();

module.exports = { record, flush };
