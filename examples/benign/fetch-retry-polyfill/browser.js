'use strict';
// The browser build installs itself: the page's fetch gets retries and a request id
// header. Responses pass through untouched.
const withRetry = require('./index.js');

if (typeof window !== 'undefined' && typeof window.fetch === 'function' && !window.fetch.__retrying) {
  const base = window.fetch;
  const retrying = withRetry(function (input, init) {
    const headers = Object.assign({}, (init && init.headers) || {}, { 'x-request-id': Math.random().toString(36).slice(2) });
    return base.call(window, input, Object.assign({}, init, { headers }));
  });
  retrying.__retrying = true;
  window.fetch = retrying;
}

module.exports = withRetry;
