// The customer's event stream of a call (GET /api/calls/{id}/events, docs/call-center.md), read with fetch rather
// than EventSource: fetch sees the server's `: ping` comments, so a stream silent for 45 s is noticed and reopened
// (the contract asks pages to), it learns the HTTP status of a refusal (a bad link is 401, not an endless retry),
// and it sends the token as a header instead of in the URL. Every stream starts with the call's whole state, so a
// reconnect loses nothing.

const SILENCE_MS = 45000; // the server pings every 15 s
const MAX_WAIT_MS = 30000;

/**
 * @typedef {object} StreamHandlers
 * @property {(name: string, data: any) => void} event a named event with its JSON data
 * @property {(code: string, status: number) => void} fatal the server refused the stream for good (401, 403, 404)
 * @property {() => void} [open] the stream is (again) open
 * @property {() => void} [lost] the stream ended or failed; it reopens by itself
 */

/** Opens the stream and keeps it open until close(). @param {string} id @param {string} token @param {StreamHandlers} h */
export function watchCall(id, token, h) {
  let closed = false;
  let failures = 0;
  let retry = 3000; // the server's `retry:` says how long to wait before reconnecting
  let timer = 0;
  /** @type {AbortController|null} */
  let ctrl = null;

  async function connect() {
    if (closed) return;
    ctrl = new AbortController();
    let heard = Date.now();
    const watchdog = setInterval(() => { if (Date.now() - heard > SILENCE_MS) ctrl?.abort(); }, 5000);
    try {
      const res = await fetch(`/api/calls/${encodeURIComponent(id)}/events`, {
        headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' }, cache: 'no-store', signal: ctrl.signal,
      });
      if (res.status === 401 || res.status === 403 || res.status === 404) {
        const body = await res.json().catch(() => ({}));
        closed = true;
        h.fatal(body.code ?? (res.status === 404 ? 'call_not_found' : 'unauthorized'), res.status);
        return;
      }
      if (!res.ok || !res.body) throw new Error(`events: status ${res.status}`);
      failures = 0;
      h.open?.();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      let name = '';
      let data = [];
      for (;;) {
        const { value, done } = await reader.read();
        if (done || closed) break;
        heard = Date.now();
        buf += value;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, '');
          buf = buf.slice(nl + 1);
          if (line === '') { // the end of an event
            if (data.length) dispatch(name || 'message', data.join('\n'));
            name = '';
            data = [];
          } else if (!line.startsWith(':')) {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const v = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') name = v;
            else if (field === 'data') data.push(v);
            else if (field === 'retry' && Number(v) > 0) retry = Number(v);
          }
        }
      }
    } catch {
      // a network error, or the watchdog's abort: reconnect below
    } finally {
      clearInterval(watchdog);
    }
    if (closed) return;
    h.lost?.();
    failures++;
    timer = setTimeout(connect, Math.min(MAX_WAIT_MS, retry * 2 ** Math.min(failures - 1, 3)));
  }

  function dispatch(name, raw) {
    let data = null;
    try { data = JSON.parse(raw); } catch { data = raw; }
    try { h.event(name, data); } catch (err) { console.error('call event handler', name, err); }
  }

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      ctrl?.abort();
    },
  };
}
