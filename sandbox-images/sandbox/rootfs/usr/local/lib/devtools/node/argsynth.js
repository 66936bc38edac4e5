// Why this exists: a payload that sits in an exported function (`sendReport(privateKey)`,
// `init(apiKey)`) only runs when called, and often only does its harm with a plausible
// argument. This module reads a function's parameter list from its source
// (Function.prototype.toString: names, defaults, destructuring, rest) and the package's
// JSDoc `@param` tags, and makes arguments a caller would pass: strings, numbers, small
// objects, callbacks, paths in a scratch directory, URLs on a made-up host — and the
// run's canary values wherever a parameter looks like a secret, so a function that ships
// its argument off is caught by the same leak search as stolen files.
'use strict';
const fs = require('fs');
const path = require('path');

const fnToString = Function.prototype.toString;

/// Splits `s` at top-level commas (outside brackets, braces, parens and strings).
function splitTop(s) {
  const out = [];
  let depth = 0;
  let cur = '';
  let quote = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      cur += c;
      if (c === '\\') {
        cur += s[++i] || '';
      } else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur.trim()) out.push(cur);
  return out.map((x) => x.trim()).filter(Boolean);
}

/// The text between the parenthesis at `open` and its match.
function balanced(src, open) {
  let depth = 0;
  let quote = null;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '/' && src[i + 1] === '*') {
      const j = src.indexOf('*/', i + 2);
      i = j < 0 ? src.length : j + 1;
    } else if (c === '/' && src[i + 1] === '/') {
      const j = src.indexOf('\n', i);
      i = j < 0 ? src.length : j;
    } else if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) return src.slice(open + 1, i);
    }
  }
  return null;
}

/// `s` without comments; string literals are kept as they are.
function stripComments(s) {
  let out = '';
  let quote = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      out += c;
      if (c === '\\') out += s[++i] || '';
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'" || c === '`') {
      quote = c;
      out += c;
    } else if (c === '/' && s[i + 1] === '*') {
      const j = s.indexOf('*/', i + 2);
      i = j < 0 ? s.length : j + 1;
    } else if (c === '/' && s[i + 1] === '/') {
      const j = s.indexOf('\n', i);
      i = j < 0 ? s.length : j;
    } else out += c;
  }
  return out;
}

/// The parameters of `fn` (a function or class): [{name, def, pattern, rest, keys}].
/// `def` is the default's source text; `keys` the property names of a destructured object.
function params(fn) {
  let src;
  try {
    src = fnToString.call(fn);
  } catch (_) {
    return [];
  }
  if (src.length > 200000) src = src.slice(0, 200000);
  let list = null;
  if (/^class[\s{]/.test(src)) {
    const m = /\bconstructor\s*\(/.exec(src);
    if (!m) return [];
    list = balanced(src, m.index + m[0].length - 1);
  } else {
    const head = src.slice(0, 2000);
    const arrowSingle = /^(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(head);
    if (arrowSingle) return [{ name: arrowSingle[1] }];
    const open = head.indexOf('(');
    if (open < 0) return [];
    list = balanced(src, open);
  }
  if (list === null) return [];
  return splitTop(stripComments(list)).map((p) => {
    const out = {};
    let t = p;
    if (t.startsWith('...')) {
      out.rest = true;
      t = t.slice(3).trim();
    }
    const eq = (() => {
      let depth = 0;
      for (let i = 0; i < t.length; i++) {
        const c = t[i];
        if ('([{'.includes(c)) depth++;
        else if (')]}'.includes(c)) depth--;
        else if (c === '=' && depth === 0 && t[i + 1] !== '>') return i;
      }
      return -1;
    })();
    if (eq >= 0) {
      out.def = t.slice(eq + 1).trim();
      t = t.slice(0, eq).trim();
    }
    if (t.startsWith('{')) {
      out.pattern = 'object';
      out.keys = splitTop(t.slice(1, -1)).map((k) => k.split(/[:=]/)[0].replace('...', '').trim()).filter(Boolean);
      out.name = out.keys.join('_') || 'options';
    } else if (t.startsWith('[')) {
      out.pattern = 'array';
      out.name = 'items';
    } else {
      out.name = t;
    }
    return out;
  });
}

/// JSDoc `@param {type} name` tags of the package's source files, by function name.
/// Reads at most `maxFiles` files of at most 512 KiB under `dir` (not node_modules).
function jsdocIndex(dir, maxFiles) {
  const index = new Map();
  let seen = 0;
  const walk = (d, depth) => {
    if (depth > 6 || seen >= (maxFiles || 200)) return;
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch (_) {
      return;
    }
    for (const e of entries) {
      if (seen >= (maxFiles || 200)) return;
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && !e.name.startsWith('.')) walk(p, depth + 1);
      } else if (/\.(c|m)?js$|\.d\.ts$/.test(e.name)) {
        seen++;
        try {
          if (fs.statSync(p).size > 512 * 1024) continue;
          const text = fs.readFileSync(p, 'utf8');
          const re = /\/\*\*([\s\S]*?)\*\/\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?(?:function\s*\*?\s*([A-Za-z_$][\w$]*)|(?:const|let|var)\s+([A-Za-z_$][\w$]*)|(?:static\s+)?(?:async\s+)?([A-Za-z_$][\w$]*)\s*\(|([A-Za-z_$][\w$.]*)\s*[:=])/g;
          let m;
          while ((m = re.exec(text))) {
            const name = (m[2] || m[3] || m[4] || m[5] || '').split('.').pop();
            if (!name) continue;
            const types = {};
            const pre = /@param\s+\{([^}]+)\}\s+\[?([A-Za-z_$][\w$.]*)/g;
            let q;
            while ((q = pre.exec(m[1]))) types[q[2].split('.')[0]] = q[1].trim();
            if (Object.keys(types).length && !index.has(name)) index.set(name, types);
          }
        } catch (_) {
          /* ignore */
        }
      }
    }
  };
  walk(dir, 0);
  return index;
}

/// Which canary kind a parameter name asks for, or null.
/// Which canary kind a parameter name asks for, or null. Wallet secrets (`private_key`,
/// `mnemonic`) are the kinds whose leaving is proof anywhere, so only names that can mean
/// nothing else get them (`key`, `pk`, `secretKey` are a cache key, a database primary key,
/// a service's API secret as often as a wallet's).
function secretKind(name) {
  const n = String(name).toLowerCase().replace(/[^a-z0-9]/g, '');
  if (!n) return null;
  // Names of a secret's neighbours, not of the secret.
  if (/(name|type|length|size|count|address|addr|izer|format|path|file|url|uri|field|header|prefix|suffix|storage|store|provider|manager|index|hash|id)$/.test(n) &&
    !/sessionid$/.test(n)) return null;
  if (/mnemonic|seedphrase|recoveryphrase|secretphrase|^seed$|seedwords|^phrase$|walletseed/.test(n)) return 'mnemonic';
  if (/privatekey|privkey|^prv|walletkey|walletsecret|^wallet$|ethkey|solkey|^keypair$|signingkey/.test(n)) return 'private_key';
  if (/password|passwd|^pass$|passphrase|^pw$|^pwd$/.test(n)) return 'password';
  if (/cookie|^session$|session(id|token)$|^sid$/.test(n)) return 'cookie';
  if (/apikey|accesskey|apisecret|clientsecret|secretkey|^secret$|secret$|^auth$|authorization|bearer|credential|creds|writekey/.test(n)) return 'api_key';
  if (/token$|^token|jwt/.test(n)) return 'token';
  return null;
}

/// A value for one parameter. `ctx`: {canaries, scratch, host, record(name, kind)}.
function valueFor(p, fnName, jsdoc, ctx) {
  const raw = p.name || '';
  const n = raw.toLowerCase().replace(/[^a-z0-9]/g, '');
  const type = jsdoc && jsdoc[raw] ? jsdoc[raw].toLowerCase() : '';
  const kind = secretKind(raw);
  const canary = (k) => {
    const v = ctx.canaries[k] || ctx.canaries.token || null;
    if (v) ctx.record(raw, 'canary:' + k);
    return v;
  };
  if (p.pattern === 'object') {
    const o = {};
    for (const k of p.keys || []) o[k] = valueFor({ name: k }, fnName, null, ctx);
    ctx.record(raw, 'object');
    return o;
  }
  if (p.pattern === 'array') {
    ctx.record(raw, 'array');
    return ['alpha', 'beta'];
  }
  if (kind) {
    const v = canary(kind);
    if (v) return v;
  }
  if (type) {
    if (/function|callback/.test(type)) return callback(raw, ctx);
    if (/^(number|integer|int|float|bigint)/.test(type)) return (ctx.record(raw, 'number'), 3);
    if (/^bool/.test(type)) return (ctx.record(raw, 'boolean'), true);
    if (/buffer|uint8array/.test(type)) return (ctx.record(raw, 'buffer'), Buffer.from('hello world'));
    if (/\[\]$|^array/.test(type)) return (ctx.record(raw, 'array'), ['alpha', 'beta']);
    if (/^(object|options|\{)/.test(type)) return (ctx.record(raw, 'object'), {});
  }
  if (p.def !== undefined) {
    // Let the default apply: the function's author chose it.
    ctx.record(raw, 'default');
    return undefined;
  }
  if (/^(cb|callback|done|next|fn|func|handler|listener|resolve|reject|onsuccess|onerror|oncomplete)$/.test(n) || /callback$|handler$|listener$/.test(n)) {
    return callback(raw, ctx);
  }
  if (/^(url|uri|href|link|endpoint|webhook|baseurl|apiurl|server|target|remote|origin)$/.test(n) || /url$|uri$|endpoint$/.test(n)) {
    ctx.record(raw, 'url');
    return 'https://api.' + ctx.host + '/v1/items';
  }
  if (/^(host|hostname|domain)$/.test(n)) return (ctx.record(raw, 'host'), 'api.' + ctx.host);
  if (/^port$/.test(n)) return (ctx.record(raw, 'number'), 8080);
  if (/^(path|file|filename|filepath|fname|src|source|input|infile|config(path|file))$/.test(n) || /(file|path)$/.test(n)) {
    ctx.record(raw, 'path');
    return path.join(ctx.scratch, 'input.txt');
  }
  if (/^(dir|directory|folder|dest|destination|out|outdir|output|cwd|root|basedir)$/.test(n) || /dir$/.test(n)) {
    ctx.record(raw, 'path');
    return ctx.scratch;
  }
  if (/email|mail/.test(n)) return (ctx.record(raw, 'string'), 'alice@' + ctx.host);
  if (/^(address|to|recipient|from|account|receiver)$/.test(n) || /address$/.test(n)) {
    ctx.record(raw, 'address');
    return ctx.canaries.address || '0x52908400098527886E0F7030069857D2E4169EE7';
  }
  if (/^(n|i|j|k|x|y|z|num|count|size|length|len|limit|max|min|index|idx|amount|value|val|qty|quantity|level|depth|retries|attempts|width|height|age|times)$/.test(n) ||
    /count$|size$|num$|amount$/.test(n)) {
    return (ctx.record(raw, 'number'), 3);
  }
  if (/^(timeout|ms|delay|wait|interval|ttl|duration)$/.test(n) || /timeout$|delay$|ms$/.test(n)) {
    return (ctx.record(raw, 'number'), 100);
  }
  if (/^(is|has|should|can|enable|enabled|disable|disabled|flag|force|verbose|debug|silent|strict|sync|async)/.test(n)) {
    return (ctx.record(raw, 'boolean'), true);
  }
  if (/^(opts|options|config|conf|cfg|settings|params|props|attrs|data|payload|obj|object|context|ctx|meta|headers|body|env|init|args)$/.test(n) || /options$|config$/.test(n)) {
    ctx.record(raw, 'object');
    return {};
  }
  if (/^(arr|array|list|items|values|keys|elements|entries)$/.test(n)) return (ctx.record(raw, 'array'), ['alpha', 'beta']);
  if (/^(buf|buffer|bytes|chunk)$/.test(n)) return (ctx.record(raw, 'buffer'), Buffer.from('hello world'));
  if (/^(re|regex|regexp|pattern)$/.test(n)) return (ctx.record(raw, 'regexp'), /a/);
  if (/date|time/.test(n)) return (ctx.record(raw, 'date'), new Date());
  ctx.record(raw, 'string');
  if (/name|user|id|key|label|title/.test(n)) return 'alice';
  return 'hello world';
}

function callback(raw, ctx) {
  ctx.record(raw, 'callback');
  return function airlockCallback() {
    return undefined;
  };
}

/// Arguments for calling `fn` (named `fnName`), as an array, plus what was made.
function argsFor(fn, fnName, jsdocs, ctx) {
  const ps = params(fn);
  const made = [];
  const local = Object.assign({}, ctx, { record: (name, kind) => made.push({ name, kind }) });
  const jsdoc = jsdocs && fnName ? jsdocs.get(fnName) : null;
  const args = [];
  for (const p of ps.slice(0, 8)) {
    if (p.rest) {
      args.push(valueFor(p, fnName, jsdoc, local));
      break;
    }
    args.push(valueFor(p, fnName, jsdoc, local));
  }
  // A function that reads `arguments` but names nothing still gets one plausible value.
  if (ps.length === 0 && typeof fn === 'function' && fn.length === 0) {
    /* nothing */
  }
  return { args, made };
}

module.exports = { params, argsFor, jsdocIndex, secretKind, splitTop };
