// core-js style banner: printed unless silenced, in CI, or with a quiet log level.
'use strict';
const env = process.env;
const ADBLOCK = /^(1|true)$/i.test(env.ADBLOCK || '');
const COLOR = /^(1|true)$/i.test(env.npm_config_color || '');
const DISABLE = /^(1|true)$/i.test(env.DISABLE_OPENCOLLECTIVE || '');
const SILENT = ['silent', 'error', 'warn'].includes(env.npm_config_loglevel);
const OPEN_SOURCE_CONTRIBUTOR = /^(1|true)$/i.test(env.OPEN_SOURCE_CONTRIBUTOR || '');
const MINUTE = 60 * 1000;
const BANNER = '\u001B[96mThank you for using corejs-like-polyfills ( https://example.invalid/corejs-like ) for polyfilling JavaScript standard library!\u001B[0m\n\n' +
  '\u001B[96mThe project needs your help! Please consider supporting it on Open Collective or Patreon:\u001B[0m\n' +
  '\u001B[96m>\u001B[94m https://opencollective.com/corejs-like \u001B[0m\n';

function isBannerRequired() {
  if (ADBLOCK || DISABLE || SILENT || OPEN_SOURCE_CONTRIBUTOR) return false;
  const file = require('path').join(require('os').tmpdir(), 'corejs-like-banners');
  let banners = [];
  try {
    const delta = Date.now() - require('fs').statSync(file).mtime;
    if (delta >= 0 && delta < MINUTE * 3) {
      banners = JSON.parse(require('fs').readFileSync(file, 'utf8'));
      if (banners.includes(BANNER)) return false;
    }
  } catch (e) {
    banners = [];
  }
  try {
    banners.push(BANNER);
    require('fs').writeFileSync(file, JSON.stringify(banners), 'utf8');
  } catch (e) { /* empty */ }
  return true;
}

function format(message) {
  return COLOR ? message : message.replace(/\u001B\[\d+m/g, '');
}

if (isBannerRequired()) console.log(format(BANNER));
