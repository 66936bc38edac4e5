'use strict';
// Why this exists: issue 16's detection probe. It looks for every mark of analysis a
// package could check from node (environment, argv, loaded modules, paths, cgroup, PID 1,
// the process list, listening sockets, the CA bundle, file times of the home, DNS of
// never-resolving names) and prints one `MARK <kind>: <detail>` line per mark found,
// then `PROBE-DONE node <phase> marks=<n>`. tests/e2e/stealth.rs asserts there are none.
const fs = require('fs');
const path = require('path');
const cp = require('child_process');

function run(phase) {
  const marks = [];
  const info = [];
  const mark = (kind, detail) => marks.push(`MARK ${kind}: ${String(detail).slice(0, 160)}`);
  const tell = /airlock|faketime|hook|strace|sandbox|run-phase|ltrace|frida|sysdig/i;
  const read = (p) => { try { return fs.readFileSync(p, 'utf8'); } catch (_) { return null; } };

  for (const [k, v] of Object.entries(process.env)) {
    if (tell.test(k) || /^(NODE_OPTIONS|LD_PRELOAD|LD_AUDIT|FAKETIME.*|NO_FAKE_STAT|PYTHONPATH)$/.test(k)) mark('env', `${k}=${v}`);
    else if (/\/opt\/airlock|faketime/i.test(v)) mark('env-value', `${k}=${v}`);
  }
  const environ = read('/proc/self/environ');
  if (environ && /NODE_OPTIONS|LD_PRELOAD|FAKETIME|AIRLOCK/.test(environ)) mark('proc-environ', environ.split('\0').filter((l) => /NODE_OPTIONS|LD_PRELOAD|FAKETIME|AIRLOCK/.test(l)).join(' '));
  if (process.execArgv.length) mark('execArgv', process.execArgv.join(' '));
  const cmdline = (read('/proc/self/cmdline') || '').split('\0').join(' ');
  if (/--require|-r |airlock/.test(cmdline)) mark('cmdline', cmdline);
  for (const k of Object.keys(require.cache)) if (tell.test(k) || k.includes('/opt/')) mark('require.cache', k);
  const maps = read('/proc/self/maps') || '';
  for (const l of new Set(maps.split('\n').map((l) => l.split(/\s+/)[5]).filter(Boolean))) if (tell.test(l)) mark('maps', l);
  try {
    const e = new Error('probe');
    cp.execSync.toString().includes('native code');
    if (tell.test(String(e.stack))) mark('stack', e.stack.split('\n').find((l) => tell.test(l)));
    const fn = String(cp.exec) + String(require('https').request) + String(Function);
    if (tell.test(fn) || /hook|emit\(/.test(fn)) mark('wrapped-source', fn.match(/.{0,40}(airlock|hook|emit\().{0,40}/)?.[0] || 'wrapper source');
  } catch (_) { /* ignore */ }
  if (globalThis.__airlockPreloaded !== undefined || Object.getOwnPropertyNames(globalThis).some((n) => tell.test(n))) mark('global', Object.getOwnPropertyNames(globalThis).filter((n) => tell.test(n)).join(','));

  for (const p of ['/opt/airlock', '/.dockerenv', '/run/.containerenv', '/airlock', '/run/airlock']) if (fs.existsSync(p)) mark('path', p);
  for (const p of ['/proc/1/cgroup', '/proc/self/cgroup']) {
    const c = read(p) || '';
    if (/docker|containerd|kubepods|lxc|libpod|airlock/.test(c)) mark('cgroup', `${p}: ${c.split('\n').find((l) => /docker|containerd|kubepods|lxc|libpod|airlock/.test(l))}`);
  }
  const mountinfo = read('/proc/self/mountinfo') || '';
  if (/airlock/.test(mountinfo)) mark('mountinfo', mountinfo.split('\n').find((l) => /airlock/.test(l)));
  if (/\/var\/lib\/docker/.test(mountinfo)) info.push('INFO mountinfo: /var/lib/docker in overlay options');
  const comm1 = (read('/proc/1/comm') || '').trim();
  const cmd1 = (read('/proc/1/cmdline') || '').split('\0').join(' ').trim();
  if (/docker-init|tini|dumb-init|^sleep|^cat$|^sh$|^bash$/.test(comm1) || /docker|sleep infinity|tini/.test(cmd1)) mark('pid1', `${comm1} | ${cmd1}`);
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const c = (read(`/proc/${pid}/cmdline`) || '').split('\0').join(' ');
    if (/strace/.test(c)) { info.push(`INFO tracer process (recorder's): ${pid}`); continue; }
    if (tell.test(c) || /setpriv|docker/.test(c)) mark('ps', `${pid} ${c}`);
  }
  const tracer = /TracerPid:\s*(\d+)/.exec(read('/proc/self/status') || '');
  if (tracer && tracer[1] !== '0') info.push(`INFO TracerPid ${tracer[1]} (recorder's)`);

  const sinkPorts = new Set([17080, 17053, 17054]);
  for (const f of ['tcp', 'tcp6', 'udp', 'udp6']) {
    for (const l of (read(`/proc/net/${f}`) || '').split('\n').slice(1)) {
      const cols = l.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const port = parseInt(cols[1].split(':')[1], 16);
      if (sinkPorts.has(port)) mark('net', `${f} port ${port} (${cols[3]})`);
    }
  }
  try {
    const { X509Certificate } = require('crypto');
    const bundle = read('/etc/ssl/certs/ca-certificates.crt') || '';
    for (const pem of bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) || []) {
      try {
        const c = new X509Certificate(pem);
        if (/airlock/i.test(c.subject) || /airlock/i.test(c.issuer)) mark('ca', c.subject.replace(/\n/g, ', '));
      } catch (_) { /* ignore */ }
    }
  } catch (_) { /* ignore */ }

  const home = require('os').homedir();
  const times = [];
  const walk = (d, depth) => {
    let names = [];
    try { names = fs.readdirSync(d); } catch (_) { return; }
    for (const n of names) {
      const p = path.join(d, n);
      let st;
      try { st = fs.lstatSync(p); } catch (_) { continue; }
      if (depth === 0 && !n.startsWith('.')) continue;
      if (/node_modules|\.npm$|\.cache$/.test(p)) continue;
      times.push(st.mtimeMs);
      if (st.isDirectory() && depth < 1) walk(p, depth + 1);
    }
  };
  walk(home, 0);
  if (times.length > 3) {
    const days = new Set(times.map((t) => Math.floor(t / 86400e3)));
    if (days.size <= 2) mark('home-times', `${times.length} entries of ${home} on ${days.size} day(s)`);
  }

  const dns = require('dns');
  let pending = 0;
  const finish = () => {
    for (const m of marks.slice(0, 8)) console.log(m);
    for (const i of info.slice(0, 3)) console.log(i);
    console.log(`PROBE-DONE node ${phase} marks=${marks.length} kinds=${[...new Set(marks.map((m) => m.split(/[ :]/)[1]))].join(',')}`);
  };
  for (const name of ['airlock-probe.invalid', 'nothing-here.test', 'no-such-host.example']) {
    pending += 1;
    dns.lookup(name, (err, addr) => {
      if (!err) mark('dns', `${name} -> ${addr}`);
      if (--pending === 0) finish();
    });
  }
}

module.exports = { run };
if (require.main === module) run(process.argv[2] || 'install');
