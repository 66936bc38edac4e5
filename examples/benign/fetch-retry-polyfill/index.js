'use strict';
module.exports = function withRetry(fetchImpl, { retries = 2 } = {}) {
  return async function retrying(input, init) {
    let last;
    for (let i = 0; i <= retries; i++) {
      try {
        return await fetchImpl(input, init);
      } catch (e) {
        last = e;
      }
    }
    throw last;
  };
};
