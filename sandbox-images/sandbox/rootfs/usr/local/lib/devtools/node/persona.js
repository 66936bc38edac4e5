// Why this exists: much npm malware only acts on the platform its author targets
// (`if (process.platform === 'win32') exec('rundll32 ' + dll)`, a macOS Keychain dump
// behind `os.type() === 'Darwin'`). In the Windows or macOS persona pass, node must say
// so: `process.platform`, `os.platform()`, `os.type()`, `os.release()`, `os.version()`
// and the environment a Windows or macOS user has. Paths stay Linux paths (the files
// must land somewhere real), and commands still run through PATH, where the persona pass
// puts recording stand-ins for `powershell`, `cmd`, `rundll32`, `osascript`, `security`…;
// with the Windows platform, node's own `exec`/`shell: true` go through `cmd.exe /d /s /c`
// exactly as on Windows.
//
// `apply(name)` changes the running process; the preload calls it in every node process
// of a persona pass, the harnesses call it before the package loads.
'use strict';

const WINDOWS = {
  platform: 'win32',
  type: 'Windows_NT',
  release: '10.0.19045',
  version: 'Windows 10 Pro',
  env: (home, user) => ({
    OS: 'Windows_NT',
    APPDATA: home + '/AppData/Roaming',
    LOCALAPPDATA: home + '/AppData/Local',
    USERPROFILE: home,
    USERNAME: user,
    USERDOMAIN: 'DESKTOP-7Q2K9LM',
    COMPUTERNAME: 'DESKTOP-7Q2K9LM',
    HOMEDRIVE: 'C:',
    HOMEPATH: '\\Users\\' + user,
    SystemRoot: 'C:\\Windows',
    windir: 'C:\\Windows',
    SystemDrive: 'C:',
    ProgramData: 'C:\\ProgramData',
    ProgramFiles: 'C:\\Program Files',
    'ProgramFiles(x86)': 'C:\\Program Files (x86)',
    PROCESSOR_ARCHITECTURE: 'AMD64',
    NUMBER_OF_PROCESSORS: '8',
    PATHEXT: '.COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC',
    PUBLIC: 'C:\\Users\\Public',
  }),
};

const MACOS = {
  platform: 'darwin',
  type: 'Darwin',
  release: '23.5.0',
  version: 'Darwin Kernel Version 23.5.0: Wed May  1 20:12:58 PDT 2024; root:xnu-10063.121.3~5/RELEASE_ARM64_T6000',
  env: (home, user) => ({
    TMPDIR: process.env.TMPDIR || '/tmp/',
    __CF_USER_TEXT_ENCODING: '0x1F5:0x0:0x0',
    XPC_FLAGS: '0x0',
    XPC_SERVICE_NAME: '0',
    SHELL: '/bin/zsh',
    LOGNAME: user,
    HOME: home,
  }),
};

function define(obj, key, value) {
  try {
    Object.defineProperty(obj, key, { value, writable: true, configurable: true, enumerable: true });
  } catch (_) {
    /* ignore */
  }
}

function fnNamed(name, f) {
  try {
    Object.defineProperty(f, 'name', { value: name });
  } catch (_) {
    /* ignore */
  }
  return f;
}

function apply(name) {
  const p = name === 'windows' ? WINDOWS : name === 'macos' ? MACOS : null;
  if (!p) return false;
  const os = require('os');
  const home = process.env.HOME || os.homedir();
  const user = process.env.USER || process.env.LOGNAME || 'runner';
  Object.defineProperty(process, 'platform', { value: p.platform, writable: false, configurable: true, enumerable: true });
  define(os, 'platform', fnNamed('platform', () => p.platform));
  define(os, 'type', fnNamed('type', () => p.type));
  define(os, 'release', fnNamed('release', () => p.release));
  define(os, 'version', fnNamed('version', () => p.version));
  if (p === WINDOWS) {
    define(os, 'EOL', '\r\n');
    define(os, 'devNull', '\\\\.\\nul');
  }
  const env = p.env(home, user);
  for (const k of Object.keys(env)) {
    if (process.env[k] === undefined) process.env[k] = env[k];
  }
  try {
    require('module').syncBuiltinESMExports();
  } catch (_) {
    /* ignore */
  }
  return true;
}

module.exports = { apply };
