// Why this exists: some npm payloads only act in a web page. The September 2025
// chalk/debug compromise checked for `window`, then wrapped `fetch`, `XMLHttpRequest` and
// the wallet's `window.ethereum.request` so that any crypto address in a response, and the
// recipient of any transaction the page sent, became the attacker's. On node, with no
// `window`, that code does nothing. The browser persona gives the package a page: a DOM
// from happy-dom (vendored into the image from the npm registry, integrity-pinned), with
// node's globals set up as a bundler's browser build expects (`window`, `document`,
// `navigator`, `location`, `localStorage`…), an EIP-1193 `window.ethereum` holding
// per-run accounts, and instrumented `fetch`, `XMLHttpRequest`, `WebSocket`,
// `navigator.clipboard`, `document.cookie` and `localStorage`. Network still goes through
// node's http stack to the sink.
//
// What it records (hook lines): the package's calls of these APIs (`browser.fetch`,
// `browser.xhr`, `browser.websocket`, `browser.clipboard.write`, `browser.cookie.read`,
// `browser.storage.read`, `browser.ethereum.request`), the package replacing or wrapping
// them (`browser.api_replaced`, with the package's code location), and the result of the
// probes run after the package loaded: a transaction to a known recipient, an ERC-20
// transfer/approve naming a known address, a fetch and an XHR whose response holds known
// wallet addresses, and a clipboard write of an address, each sent through whatever the
// page's APIs are by then. A recipient or address that comes out different is
// `browser.address_rewritten` — proof of an address-swapping hook (rules/exfiltration/
// wallet-address-swap.toml).
'use strict';
const crypto = require('crypto');
const path = require('path');
const fs = require('fs');
const { createRequire } = require('module');
const hook = require('/usr/local/lib/devtools/node/hooklog.js');

const VENDOR = '/usr/local/lib/devtools/node/vendor/';
const SELF = '/usr/local/lib/devtools/node/browser.js';
const CHROME_UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

const hex = (n) => crypto.randomBytes(n).toString('hex');
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const b58 = (n) => Array.from(crypto.randomBytes(n), (b) => B58[b % 58]).join('');
const B32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const b32 = (n) => Array.from(crypto.randomBytes(n), (b) => B32[b % 32]).join('');

/// Where a package's code stands (a stack frame outside the harness), for attribution.
const where = (skip) => hook.packageFrame(skip) || null;

/// The page's addresses: the user's accounts and the recipients the probes send to.
function addresses() {
  return {
    account: '0x' + hex(20),
    recipient: '0x' + hex(20),
    token: '0x' + hex(20),
    btc: 'bc1q' + b32(38),
    sol: b58(44),
    trx: 'T' + b58(33),
  };
}

function pick(e, conds) {
  if (typeof e === 'string') return e;
  if (Array.isArray(e)) {
    for (const x of e) {
      const r = pick(x, conds);
      if (r) return r;
    }
    return null;
  }
  if (e && typeof e === 'object') {
    if (e['.'] !== undefined) return pick(e['.'], conds);
    for (const k of conds) {
      if (e[k] !== undefined) {
        const r = pick(e[k], conds);
        if (r) return r;
      }
    }
  }
  return null;
}

/// The file a bundler would take for the browser: `browser` (a string, or the entry in
/// its replacement map), the `browser` condition of `exports`, `module`, else `main`.
function browserEntry(pkgDir) {
  let pj = {};
  try {
    pj = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  } catch (_) {
    /* ignore */
  }
  const main = pj.main || 'index.js';
  const norm = (p) => './' + String(p).replace(/^\.\//, '');
  let target = null;
  let how = 'main';
  if (typeof pj.browser === 'string') {
    target = pj.browser;
    how = 'browser';
  } else if (pj.browser && typeof pj.browser === 'object') {
    const m = pj.browser[norm(main)] || pj.browser[main] || pj.browser[norm(main) + '.js'];
    if (typeof m === 'string') {
      target = m;
      how = 'browser-map';
    }
  }
  if (!target && pj.exports !== undefined) {
    const t = pick(pj.exports, ['browser', 'import', 'module', 'default', 'require']);
    if (t) {
      target = t;
      how = 'exports';
    }
  }
  if (!target && pj.module) {
    target = pj.module;
    how = 'module';
  }
  if (!target) target = main;
  let file = path.resolve(pkgDir, target);
  for (const ext of ['', '.js', '.mjs', '.cjs', '/index.js']) {
    if (fs.existsSync(file + ext) && fs.statSync(file + ext).isFile()) {
      file = file + ext;
      break;
    }
  }
  return { file, how, esm: /\.mjs$/.test(file) || pj.type === 'module' };
}

/// Installs the page into node's globals. Returns the page's handles for the probes.
function setup(opts) {
  opts = opts || {};
  const canaries = opts.canaries || {};
  const host = opts.host || 'app.northwind-analytics.com';
  const emit = (ev, args, caller) => hook.emit(ev, args, caller || SELF);
  const { Window } = createRequire(VENDOR + 'index.js')('happy-dom');
  const win = new Window({
    url: 'https://' + host + '/dashboard',
    width: 1440,
    height: 900,
    settings: {
      navigator: { userAgent: CHROME_UA },
      disableErrorCapturing: true,
      // What the page sends is what matters, not whether a browser would have let the
      // page read the answer: no CORS preflight stands between the package and the sink.
      fetch: { disableSameOriginPolicy: true },
      handleDisabledFileLoadingAsSuccess: true,
    },
  });
  const addr = addresses();
  const stats = { replaced: [], calls: {}, probes: {} };
  const count = (k) => (stats.calls[k] = (stats.calls[k] || 0) + 1);

  // ---- globals as a browser build sees them ----------------------------------------
  const g = globalThis;
  for (const k of Object.getOwnPropertyNames(win)) {
    if (k in g || k === 'undefined' || k === 'happyDOM') continue;
    try {
      const d = Object.getOwnPropertyDescriptor(win, k);
      if (d && 'value' in d && typeof d.value === 'function' && /^[a-z]/.test(k) && !/^[A-Z]/.test(k)) {
        g[k] = d.value.bind(win);
      } else if (d) {
        Object.defineProperty(g, k, { get: () => win[k], set: (v) => (win[k] = v), configurable: true, enumerable: d.enumerable });
      }
    } catch (_) {
      /* ignore */
    }
  }
  for (const k of ['window', 'self', 'top', 'parent', 'globalThis', 'frames']) {
    try {
      Object.defineProperty(g, k, { value: g, writable: true, configurable: true, enumerable: true });
    } catch (_) {
      /* ignore */
    }
  }
  for (const k of ['document', 'navigator', 'location', 'history', 'localStorage', 'sessionStorage',
    'screen', 'customElements', 'getComputedStyle', 'matchMedia', 'requestAnimationFrame',
    'cancelAnimationFrame', 'addEventListener', 'removeEventListener', 'dispatchEvent',
    'Event', 'CustomEvent', 'Response', 'Request', 'Headers', 'FormData', 'Blob', 'File',
    'FileReader', 'DOMParser', 'MutationObserver', 'Node', 'HTMLElement', 'Element', 'Image']) {
    try {
      const v = win[k];
      if (v === undefined) continue;
      Object.defineProperty(g, k, {
        value: typeof v === 'function' && /^[a-z]/.test(k) ? v.bind(win) : v,
        writable: true,
        configurable: true,
        enumerable: true,
      });
    } catch (_) {
      /* ignore */
    }
  }

  // ---- a watched global: who replaces it ---------------------------------------------
  function watch(obj, key, label, initial) {
    let cur = initial;
    Object.defineProperty(obj, key, {
      configurable: true,
      enumerable: true,
      get() {
        return cur;
      },
      set(v) {
        if (v !== cur) {
          const by = where();
          stats.replaced.push({ api: label, by });
          emit('browser.api_replaced', { api: label, how: 'assigned', caller: by || undefined }, by);
        }
        cur = v;
      },
    });
    return () => cur;
  }

  // ---- fetch -------------------------------------------------------------------------
  const baseFetch = win.fetch.bind(win);
  const probeUrl = 'https://api.' + host.replace(/^app\./, '') + '/v2/wallet/receive-addresses';
  const probeBody = () =>
    JSON.stringify({ eth: addr.recipient, btc: addr.btc, sol: addr.sol, trx: addr.trx, memo: 'deposit' });
  const urlOf = (input) => {
    try {
      if (typeof input === 'string') return input;
      if (input && typeof input.url === 'string') return input.url;
      return String(input);
    } catch (_) {
      return '?';
    }
  };
  const fetchImpl = function fetch(input, init) {
    const url = urlOf(input);
    if (url === probeUrl) {
      return Promise.resolve(new win.Response(probeBody(), { status: 200, headers: { 'content-type': 'application/json' } }));
    }
    count('fetch');
    const by = where();
    let body;
    try {
      body = init && init.body !== undefined ? hook.cut(String(init.body), 300) : undefined;
    } catch (_) {
      body = '?';
    }
    emit('browser.fetch', { url: hook.cut(url, 500), method: (init && init.method) || 'GET', body, caller: by || undefined }, by);
    return baseFetch(input, init);
  };
  const currentFetch = watch(g, 'fetch', 'fetch', fetchImpl);

  // ---- XMLHttpRequest ----------------------------------------------------------------
  // A small XHR over the page's fetch: the probe URL answers with known addresses, every
  // other request goes out through the sink like the page's fetch.
  class XMLHttpRequest {
    constructor() {
      this.readyState = 0;
      this.status = 0;
      this.statusText = '';
      this.responseText = '';
      this.response = '';
      this.responseType = '';
      this.responseURL = '';
      this.timeout = 0;
      this.withCredentials = false;
      this._headers = {};
      this._listeners = {};
      this.upload = { addEventListener() {}, removeEventListener() {} };
      this.onreadystatechange = null;
      this.onload = null;
      this.onerror = null;
      this.onloadend = null;
    }
    open(method, url) {
      this._method = String(method || 'GET');
      this._url = String(url);
      this.readyState = 1;
    }
    setRequestHeader(k, v) {
      this._headers[k] = v;
    }
    getAllResponseHeaders() {
      return 'content-type: application/json\r\n';
    }
    getResponseHeader(k) {
      return String(k).toLowerCase() === 'content-type' ? 'application/json' : null;
    }
    addEventListener(t, f) {
      (this._listeners[t] = this._listeners[t] || []).push(f);
    }
    removeEventListener(t, f) {
      this._listeners[t] = (this._listeners[t] || []).filter((x) => x !== f);
    }
    abort() {}
    overrideMimeType() {}
    _fire(t) {
      const ev = { type: t, target: this, currentTarget: this };
      try {
        if (typeof this['on' + t] === 'function') this['on' + t](ev);
      } catch (_) {
        /* ignore */
      }
      for (const f of this._listeners[t] || []) {
        try {
          f.call(this, ev);
        } catch (_) {
          /* ignore */
        }
      }
    }
    send(body) {
      const url = new URL(this._url, win.location.href).href;
      const done = (status, text) => {
        this.status = status;
        this.statusText = status === 200 ? 'OK' : '';
        this.responseURL = url;
        this.responseText = text;
        let resp = text;
        if (this.responseType === 'json') {
          try {
            resp = JSON.parse(text);
          } catch (_) {
            resp = null;
          }
        }
        this.response = resp;
        this.readyState = 4;
        this._fire('readystatechange');
        this._fire('load');
        this._fire('loadend');
      };
      if (url === probeUrl) {
        Promise.resolve().then(() => done(200, probeBody()));
        return;
      }
      count('xhr');
      const by = where();
      emit('browser.xhr', { url: hook.cut(url, 500), method: this._method, body: body === undefined || body === null ? undefined : hook.cut(String(body), 300), caller: by || undefined }, by);
      baseFetch(url, { method: this._method, headers: this._headers, body: body === undefined ? undefined : body })
        .then((r) => r.text().then((t) => done(r.status, t)))
        .catch(() => {
          this.readyState = 4;
          this._fire('error');
          this._fire('loadend');
        });
    }
  }
  XMLHttpRequest.UNSENT = 0;
  XMLHttpRequest.OPENED = 1;
  XMLHttpRequest.HEADERS_RECEIVED = 2;
  XMLHttpRequest.LOADING = 3;
  XMLHttpRequest.DONE = 4;
  const xhrProto = XMLHttpRequest.prototype;
  const xhrOriginal = { open: xhrProto.open, send: xhrProto.send };
  for (const k of ['open', 'send']) watch(xhrProto, k, 'XMLHttpRequest.prototype.' + k, xhrProto[k]);
  watch(g, 'XMLHttpRequest', 'XMLHttpRequest', XMLHttpRequest);

  // ---- WebSocket ---------------------------------------------------------------------
  // Each message goes to the sink as an HTTP POST to the socket's host, so what a page
  // sends over a socket is captured and searched for canaries like any other upload.
  class WebSocket {
    constructor(url) {
      this.url = String(url);
      this.readyState = 0;
      this.protocol = '';
      this.bufferedAmount = 0;
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      this._l = {};
      const by = where();
      count('websocket');
      emit('browser.websocket', { url: hook.cut(this.url, 500), caller: by || undefined }, by);
      setImmediate(() => {
        this.readyState = 1;
        this._fire('open', {});
      });
    }
    addEventListener(t, f) {
      (this._l[t] = this._l[t] || []).push(f);
    }
    removeEventListener(t, f) {
      this._l[t] = (this._l[t] || []).filter((x) => x !== f);
    }
    _fire(t, ev) {
      try {
        if (typeof this['on' + t] === 'function') this['on' + t](ev);
      } catch (_) {
        /* ignore */
      }
      for (const f of this._l[t] || []) {
        try {
          f.call(this, ev);
        } catch (_) {
          /* ignore */
        }
      }
    }
    send(data) {
      const by = where();
      const text = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
      emit('browser.websocket.send', { url: hook.cut(this.url, 300), data: hook.cut(text, 300), caller: by || undefined }, by);
      const u = this.url.replace(/^ws:/, 'http:').replace(/^wss:/, 'https:');
      baseFetch(u, { method: 'POST', body: text }).catch(() => {});
    }
    close() {
      this.readyState = 3;
      this._fire('close', { code: 1000 });
    }
  }
  WebSocket.CONNECTING = 0;
  WebSocket.OPEN = 1;
  WebSocket.CLOSING = 2;
  WebSocket.CLOSED = 3;
  watch(g, 'WebSocket', 'WebSocket', WebSocket);

  // ---- cookies and storage (with the run's canaries in them) ----------------------------
  try {
    if (canaries.cookie) win.document.cookie = 'session_id=' + canaries.cookie + '; path=/';
    win.document.cookie = 'theme=dark; path=/';
    if (canaries.token) win.localStorage.setItem('auth_token', canaries.token);
    win.localStorage.setItem('lang', 'en-US');
  } catch (_) {
    /* ignore */
  }
  try {
    const doc = win.document;
    let proto = Object.getPrototypeOf(doc);
    let d = null;
    while (proto && !(d = Object.getOwnPropertyDescriptor(proto, 'cookie'))) proto = Object.getPrototypeOf(proto);
    if (d && d.get) {
      Object.defineProperty(doc, 'cookie', {
        configurable: true,
        enumerable: true,
        get() {
          const by = where();
          if (by) {
            count('cookie.read');
            emit('browser.cookie.read', { caller: by }, by);
          }
          return d.get.call(doc);
        },
        set(v) {
          return d.set.call(doc, v);
        },
      });
    }
  } catch (_) {
    /* ignore */
  }
  try {
    const ls = win.localStorage;
    const getItem = ls.getItem.bind(ls);
    Object.defineProperty(ls, 'getItem', {
      configurable: true,
      enumerable: false,
      value: function getItem_(k) {
        const by = where();
        if (by) {
          count('storage.read');
          emit('browser.storage.read', { key: hook.cut(String(k), 100), caller: by }, by);
        }
        return getItem(k);
      },
    });
  } catch (_) {
    /* ignore */
  }

  // ---- clipboard ---------------------------------------------------------------------
  let clipboardText = '';
  let clipboardWriter = null; // the package code that last wrote the clipboard
  const clipboard = {
    writeText: async function writeText(t) {
      clipboardText = String(t);
      const by = where();
      if (by) clipboardWriter = by;
      if (by && !probing) {
        count('clipboard.write');
        emit('browser.clipboard.write', { text: hook.cut(clipboardText, 200), caller: by }, by);
      }
    },
    readText: async function readText() {
      const by = where();
      if (by && !probing) {
        count('clipboard.read');
        emit('browser.clipboard.read', { caller: by }, by);
      }
      return clipboardText;
    },
    write: async function write() {},
    read: async function read() {
      return [];
    },
  };
  try {
    Object.defineProperty(win.navigator, 'clipboard', { configurable: true, enumerable: true, value: clipboard });
  } catch (_) {
    /* ignore */
  }
  const clipProto = clipboard;
  watch(clipProto, 'writeText', 'navigator.clipboard.writeText', clipboard.writeText);

  // ---- window.ethereum (EIP-1193) -------------------------------------------------------
  let probing = false;
  let expectation = null; // what the current probe sends, to compare with what arrives
  const rewritten = [];
  const ethListeners = {};
  const baseRequest = async function request(args) {
    const method = args && args.method;
    const params = (args && args.params) || [];
    const by = where();
    if (!probing && by) {
      count('ethereum.request');
      let p;
      try {
        p = hook.cut(JSON.stringify(params), 300);
      } catch (_) {
        p = '?';
      }
      emit('browser.ethereum.request', { method: String(method), params: p, caller: by }, by);
    }
    if (expectation && (method === 'eth_sendTransaction' || method === 'eth_signTransaction')) {
      const tx = params[0] || {};
      const exp = expectation;
      const got = { to: String(tx.to || '').toLowerCase(), data: String(tx.data || '').toLowerCase() };
      const changed = got.to !== exp.to.toLowerCase() || got.data !== exp.data.toLowerCase();
      exp.arrived = true;
      exp.changed = changed;
      if (changed) {
        const rec = {
          probe: exp.probe,
          channel: 'window.ethereum.request',
          sent_to: exp.to,
          arrived_to: got.to,
          sent_data: hook.cut(exp.data, 140),
          arrived_data: hook.cut(got.data, 140),
          caller: by || stats.replaced.map((r) => r.by).find(Boolean) || undefined,
        };
        rewritten.push(rec);
        emit('browser.address_rewritten', rec, rec.caller);
      }
      return '0x' + hex(32);
    }
    switch (method) {
      case 'eth_requestAccounts':
      case 'eth_accounts':
        return [addr.account];
      case 'eth_chainId':
        return '0x1';
      case 'net_version':
        return '1';
      case 'eth_getBalance':
        return '0x1bc16d674ec80000';
      case 'eth_blockNumber':
        return '0x' + (21500000).toString(16);
      case 'eth_sendTransaction':
      case 'eth_signTransaction':
        return '0x' + hex(32);
      case 'personal_sign':
      case 'eth_sign':
      case 'eth_signTypedData_v4':
        return '0x' + hex(65);
      case 'wallet_switchEthereumChain':
      case 'wallet_addEthereumChain':
        return null;
      default:
        return null;
    }
  };
  const ethereum = {
    isMetaMask: true,
    chainId: '0x1',
    networkVersion: '1',
    selectedAddress: addr.account,
    _metamask: { isUnlocked: async () => true },
    isConnected: () => true,
    on(ev, f) {
      (ethListeners[ev] = ethListeners[ev] || []).push(f);
      return this;
    },
    removeListener(ev, f) {
      ethListeners[ev] = (ethListeners[ev] || []).filter((x) => x !== f);
      return this;
    },
    enable() {
      return this.request({ method: 'eth_requestAccounts' });
    },
  };
  watch(ethereum, 'request', 'ethereum.request', baseRequest);
  watch(ethereum, 'send', 'ethereum.send', function send(a, b) {
    if (typeof a === 'string') return ethereum.request({ method: a, params: b });
    if (typeof b === 'function') {
      ethereum.request(a).then((r) => b(null, { id: a.id, jsonrpc: '2.0', result: r }), (e) => b(e));
      return undefined;
    }
    return ethereum.request(a);
  });
  watch(ethereum, 'sendAsync', 'ethereum.sendAsync', function sendAsync(a, cb) {
    ethereum.request(a).then((r) => cb(null, { id: a.id, jsonrpc: '2.0', result: r }), (e) => cb(e));
  });
  watch(g, 'ethereum', 'window.ethereum', ethereum);
  // The user's wallet also announces itself the EIP-6963 way (how current dapps and
  // drainers find wallets): on request, and once at load.
  const announce = () => {
    try {
      const detail = Object.freeze({
        info: Object.freeze({ uuid: '5d8a6f3e-4c1b-4e7a-9f2d-8b0c6a1e3f57', name: 'MetaMask', icon: 'data:image/svg+xml,', rdns: 'io.metamask' }),
        provider: g.ethereum,
      });
      win.dispatchEvent(new win.CustomEvent('eip6963:announceProvider', { detail }));
    } catch (_) {
      /* ignore */
    }
  };
  try {
    win.addEventListener('eip6963:requestProvider', announce);
  } catch (_) {
    /* ignore */
  }

  // ---- probes ----------------------------------------------------------------------------
  const pad = (a) => a.replace(/^0x/, '').toLowerCase().padStart(64, '0');
  async function withDeadline(p, ms, realSetTimeout) {
    let t;
    const r = await Promise.race([
      Promise.resolve(p).then((v) => ({ v }), (e) => ({ e })),
      new Promise((res) => (t = realSetTimeout(() => res({ timeout: true }), ms))),
    ]);
    clearTimeout(t);
    return r;
  }

  /// Sends the known transactions, addresses and texts through the page's APIs as they
  /// are now, and reports what came out changed.
  async function probe(realSetTimeout, ms) {
    probing = true;
    const results = {};
    const eth = g.ethereum;
    const send = async (name, tx) => {
      expectation = { probe: name, to: tx.to, data: tx.data || '0x', arrived: false };
      let r;
      try {
        r = await withDeadline(eth && typeof eth.request === 'function' ? eth.request({ method: 'eth_sendTransaction', params: [tx] }) : null, ms, realSetTimeout);
      } catch (_) {
        r = { e: true };
      }
      results[name] = r.timeout ? 'timeout' : !expectation.arrived ? 'never-arrived' : expectation.changed ? 'rewritten' : 'intact';
      expectation = null;
    };
    await send('transaction', { from: addr.account, to: addr.recipient, value: '0x2386f26fc10000', data: '0x' });
    await send('erc20-transfer', { from: addr.account, to: addr.token, value: '0x0', data: '0xa9059cbb' + pad(addr.recipient) + pad('0x' + (1e9).toString(16)) });
    await send('erc20-approve', { from: addr.account, to: addr.token, value: '0x0', data: '0x095ea7b3' + pad(addr.recipient) + pad('0x' + (1e9).toString(16)) });
    // Responses that carry addresses, read the way a page reads them.
    const want = [addr.recipient, addr.btc, addr.sol, addr.trx];
    const check = (channel, text, byHint) => {
      const missing = want.filter((a) => !String(text).includes(a));
      if (missing.length) {
        const rec = {
          probe: channel,
          channel,
          sent: missing.map((a) => hook.cut(a, 60)),
          arrived: hook.cut(String(text), 300),
          caller: byHint || undefined,
        };
        rewritten.push(rec);
        emit('browser.address_rewritten', rec, rec.caller);
        return 'rewritten';
      }
      return 'intact';
    };
    const replacer = (api) => (stats.replaced.find((r) => r.api.startsWith(api) && r.by) || {}).by;
    try {
      const f = currentFetch();
      const r = await withDeadline(Promise.resolve(f(probeUrl)).then((res) => res.text()), ms, realSetTimeout);
      results.fetch = r.timeout ? 'timeout' : r.e ? 'error' : check('fetch-response', r.v, replacer('fetch'));
    } catch (_) {
      results.fetch = 'error';
    }
    try {
      const X = g.XMLHttpRequest;
      const x = new X();
      // Read as pages do, once loaded (after every readystatechange listener ran).
      const got = new Promise((resolve) => {
        x.onload = function () {
          resolve(x.responseText);
        };
        x.onerror = function () {
          resolve('');
        };
      });
      x.open('GET', probeUrl);
      x.send();
      const r = await withDeadline(got, ms, realSetTimeout);
      results.xhr = r.timeout ? 'timeout' : check('xhr-response', r.v, replacer('XMLHttpRequest'));
    } catch (_) {
      results.xhr = 'error';
    }
    try {
      const c = g.navigator && g.navigator.clipboard;
      if (c && typeof c.writeText === 'function') {
        await withDeadline(c.writeText(addr.recipient), ms, realSetTimeout);
        // A hijacker that polls the clipboard gets a moment to act, as a user pastes later.
        await new Promise((r) => realSetTimeout(r, Math.min(ms, 1500)));
        results.clipboard = clipboardText === addr.recipient ? 'intact' : check('clipboard', clipboardText, replacer('navigator.clipboard') || clipboardWriter);
      }
    } catch (_) {
      results.clipboard = 'error';
    }
    probing = false;
    stats.probes = results;
    return { results, rewritten };
  }

  /// What changed since setup that no setter saw (Object.defineProperty, prototype
  /// patches): compared with the originals.
  function sweep() {
    const seen = new Set(stats.replaced.map((r) => r.api));
    const checks = [
      ['XMLHttpRequest.prototype.open', () => g.XMLHttpRequest && g.XMLHttpRequest.prototype && g.XMLHttpRequest.prototype.open !== xhrOriginal.open],
      ['XMLHttpRequest.prototype.send', () => g.XMLHttpRequest && g.XMLHttpRequest.prototype && g.XMLHttpRequest.prototype.send !== xhrOriginal.send],
      ['fetch', () => g.fetch !== fetchImpl],
      ['ethereum.request', () => g.ethereum && g.ethereum.request !== baseRequest],
    ];
    for (const [api, changed] of checks) {
      try {
        if (!seen.has(api) && changed()) {
          stats.replaced.push({ api, by: null });
          emit('browser.api_replaced', { api, how: 'redefined' });
        }
      } catch (_) {
        /* ignore */
      }
    }
  }

  /// The page's load events, as a browser fires them after the scripts ran.
  function fireLoad() {
    announce();
    try {
      win.document.dispatchEvent(new win.Event('DOMContentLoaded'));
      win.dispatchEvent(new win.Event('load'));
    } catch (_) {
      /* ignore */
    }
  }

  function close() {
    try {
      win.happyDOM.abort();
    } catch (_) {
      /* ignore */
    }
  }

  return { probe, sweep, fireLoad, close, stats, addresses: addr, window: win };
}

module.exports = { setup, browserEntry };
