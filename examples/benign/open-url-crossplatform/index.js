'use strict';
const { spawn } = require('child_process');

// Like `open`, `opn` and `better-opn`: each system has its own launcher, chosen by
// platform — Windows' `cmd /c start`, macOS' `open`, `xdg-open` elsewhere.
function openUrl(target) {
  let cmd;
  let args;
  if (process.platform === 'win32') {
    cmd = 'cmd';
    args = ['/c', 'start', '""', String(target).replace(/&/g, '^&')];
  } else if (process.platform === 'darwin') {
    cmd = 'open';
    args = [String(target)];
  } else {
    cmd = 'xdg-open';
    args = [String(target)];
  }
  const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
  child.on('error', () => {});
  child.unref();
  return child.pid || 0;
}

module.exports = { openUrl };
