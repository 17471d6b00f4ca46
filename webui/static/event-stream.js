// The call center's event streams (GET /api/agents/events for the console, GET /api/calls/{id}/events for the
// customer's page; Server-Sent Events) read with fetch rather than EventSource, for three things EventSource hides: the token goes in the Authorization header (not in the URL,
// where proxies log it), a refused sign-in comes back with its status and code (EventSource only says "error"),
// and the server's keep-alive comments are seen, so a stream silent for 45 s is known dead and reopened
// (docs/call-center.md). Every stream starts with the whole current state, so reopening loses nothing.

const SILENCE_MS = 45_000; // the server sends a keep-alive every 15 s
const MAX_WAIT_MS = 30_000;

/**
 * Opens the stream and keeps it open until close(): after an end or a network error it reconnects after the
 * server's retry delay (3 s), doubling with each failure in a row up to 30 s. An answer whose status is in
 * `refused` (default 401 and 403) stops it for good (onRefused); other error answers retry more slowly.
 * @param {string} url @param {string} token
 * @param {{onOpen?: () => void, onEvent: (name: string, data: any) => void, onDown?: (err: {code: string, message?: string, status?: number}) => void,
 *   onRefused: (err: {code: string, message?: string, status: number}) => void, refused?: number[]}} on
 * @returns {{close: () => void}}
 */
export function openEventStream(url, token, on) {
  const refused = on.refused ?? [401, 403];
  let closed = false;
  let retryMs = 3000;
  let failures = 0;
  let ctl = null;
  let timer = 0;

  async function connect() {
    ctl = new AbortController();
    const abort = ctl.abort.bind(ctl);
    let silence = setTimeout(abort, SILENCE_MS);
    const heard = () => { clearTimeout(silence); silence = setTimeout(abort, SILENCE_MS); };
    let wait = retryMs;
    try {
      const res = await fetch(url, {
        headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' }, cache: 'no-store', signal: ctl.signal,
      });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        const err = { code: body.code ?? `http_${res.status}`, message: body.message, status: res.status };
        if (refused.includes(res.status)) {
          closed = true;
          on.onRefused(err);
          return;
        }
        wait = Math.max(retryMs, 10_000);
        throw err;
      }
      failures = 0;
      on.onOpen?.();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      let name = 'message';
      let data = [];
      for (;;) {
        const { value, done } = await reader.read();
        if (done || closed) break;
        heard();
        buf += value;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, '');
          buf = buf.slice(nl + 1);
          if (line === '') { // the end of an event
            if (data.length) dispatch(name, data.join('\n'));
            name = 'message';
            data = [];
            continue;
          }
          if (line.startsWith(':')) continue; // a keep-alive comment
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') name = val;
          else if (field === 'data') data.push(val);
          else if (field === 'retry' && /^\d+$/.test(val)) retryMs = Number(val);
        }
      }
      throw { code: 'stream_ended', message: 'the server ended the stream' };
    } catch (err) {
      if (closed) return;
      const e = err?.code ? err : { code: ctl.signal.aborted ? 'timeout' : 'network', message: String(err?.message ?? err) };
      on.onDown?.(e);
    } finally {
      clearTimeout(silence);
    }
    if (!closed) timer = setTimeout(connect, Math.min(MAX_WAIT_MS, wait * 2 ** Math.min(failures++, 3)));
  }

  function dispatch(name, text) {
    let data = null;
    try { data = JSON.parse(text); } catch { return; } // every event of this stream is one line of JSON
    try { on.onEvent(name, data); } catch (err) { console.error('console event', name, err); }
  }

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      ctl?.abort();
    },
  };
}
