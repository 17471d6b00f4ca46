/**
 * The client logger: what a page did, sent to the server's `POST /api/logs` (docs/call-center.md, "Client logs")
 * so a call's record shows what happened on the customer's phone and the agent's desk. It does what the seed app's
 * logger does (buffer, one POST a second, keep unsent lines in localStorage and send them later) without its bug:
 * the seed emptied its buffer before the POST and saved the emptied buffer when the POST failed, so failed lines
 * were lost. Here a batch is written to localStorage before it is sent and removed only after a 2xx; a failed one
 * is resent as it was (same batch id, so the server stores it once) with backoff, and on the next page load.
 *
 * ```js
 * import { createLogger } from '/sdk/stoa.js';
 * const logger = createLogger({ token, call, fields: { staff: 'agent-1001', room, version: '1.4.0' } });
 * logger.info('getUserMedia', { allowed: true });
 * logger.error('join', { code: 'token_expired' });
 * ```
 */

import { setLogSink } from './log.js';

const LEVELS = ['debug', 'info', 'warn', 'error'];
/** localStorage keys: one item per unsent batch, so tabs of one origin never overwrite each other's. */
const PREFIX = 'stoa.logs.';
const BATCH_ENTRIES = 200; // per POST: well under the server's 1,000
const BATCH_BYTES = 200 * 1024; // per POST: well under the server's 1 MiB
const BUFFER_ENTRIES = 1000; // unbatched entries in memory (a burst between two ticks)
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000, 60000];
const CATCH_UP_MS = 250; // between the POSTs of stored batches: 4 a second, under the server's 5 per token
const ID_CHARS = /[^A-Za-z0-9_.:@-]/g;

/**
 * @typedef {'debug'|'info'|'warn'|'error'} Level
 * @typedef {{staff?: string, room?: string, url?: string, version?: string}} Fields the seed's fields, on every entry
 * @typedef {{ts: number, level: Level, type: string, message: any} & Fields} Entry
 * @typedef {{scope: string, session: string, call?: string, batch: string, entries: Entry[], at: number}} Batch
 * @typedef {object} LoggerOptions
 * @property {string} [token] sent as `Authorization: Bearer`: the page's Stoa token (a call's token files the
 *   logs with its call). Without one the server takes the post only from its operator (or dev mode).
 * @property {string} [call] the call id the logs belong to
 * @property {Fields} [fields] staff, room, url (default the page's address, its token parameters masked) and version
 * @property {string} [url] where to POST (default: /api/logs on the server this SDK was loaded from)
 * @property {string} [session] the session id (default: a new one, time and random digits)
 * @property {number} [interval] ms between POSTs (default 1000)
 * @property {Level} [level] the lowest level kept (default 'debug')
 * @property {boolean} [console] also print to the browser console (default true)
 * @property {boolean} [captureSdk] also send the SDK's own warnings and errors (default true)
 * @property {number} [maxStoredEntries] unsent entries kept in localStorage, all batches of the origin (default 500)
 * @property {number} [maxStoredBytes] the same in bytes (default 256 KiB)
 */

/** The room and uid a Stoa token is for, read (not verified) from its payload; '' without a token. */
function scopeOf(token) {
  if (!token) return '';
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
    return `${claims.room}/${claims.uid}`;
  } catch {
    return 'token';
  }
}

/** The page's address without credentials: a token in the query never goes into a log line. */
export function safeUrl(href) {
  try {
    const u = new URL(href);
    for (const k of [...u.searchParams.keys()]) if (/token|key|secret|password/i.test(k)) u.searchParams.set(k, '…');
    return u.href;
  } catch {
    return '';
  }
}

/** Something JSON can carry: Errors as {name, message, code}, the rest as it is or as a string. */
function plain(message) {
  if (message instanceof Error) return { name: message.name, message: message.message, ...(message.code && { code: message.code }) };
  if (message === undefined) return null;
  try {
    JSON.stringify(message);
    return message;
  } catch {
    return String(message);
  }
}

/** localStorage, or a Map that lives as long as the page where there is none (private modes, quota, sandbox). */
function storage() {
  try {
    const s = window.localStorage;
    s.getItem(PREFIX);
    return s;
  } catch {
    const m = new Map();
    return {
      get length() { return m.size; }, key: (i) => [...m.keys()][i] ?? null, getItem: (k) => m.get(k) ?? null,
      setItem: (k, v) => { m.set(k, String(v)); }, removeItem: (k) => { m.delete(k); },
    };
  }
}

/** A buffered logger posting to /api/logs; see the module comment. */
export class ClientLogger {
  /** @type {string} */ session;
  /** @type {string|undefined} */ call;
  /** @type {Fields} */ fields;
  /** What happened to the batches, for diagnostics and tests. */
  stats = { posted: 0, acked: 0, duplicates: 0, failed: 0, forgotten: 0, dropped: 0, lastStatus: 0 };
  #opts;
  #token;
  #scope;
  /** @type {Entry[]} */ #buffer = [];
  #seq = 0;
  #timer = 0;
  #sending = false;
  #failures = 0;
  #retryAt = 0;
  #waitingForToken = false;
  #store = storage();
  #onHide = () => this.#flushOnHide();

  /** @param {LoggerOptions} [opts] */
  constructor(opts = {}) {
    this.#opts = { interval: 1000, level: 'debug', console: true, captureSdk: true, maxStoredEntries: 500, maxStoredBytes: 256 * 1024, ...opts };
    this.session = (opts.session ?? `${Date.now()}-${Math.floor(Math.random() * 1e6)}`).replace(ID_CHARS, '_').slice(0, 100);
    this.call = opts.call || undefined;
    this.fields = { url: typeof location !== 'undefined' ? safeUrl(location.href) : '', ...opts.fields };
    this.#token = opts.token ?? '';
    this.#scope = scopeOf(this.#token);
    this.url = opts.url ?? new URL('/api/logs', import.meta.url).href;
    if (this.#opts.captureSdk) setLogSink((level, args) => this.log(level, 'sdk', args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : typeof a === 'string' ? a : plain(a)))));
    this.#timer = setInterval(() => this.#tick(), this.#opts.interval);
    addEventListener('pagehide', this.#onHide);
    setTimeout(() => this.#tick(), 0); // batches a previous page left unsent go at once
  }

  debug(type, message) { this.log('debug', type, message); }
  info(type, message) { this.log('info', type, message); }
  warn(type, message) { this.log('warn', type, message); }
  error(type, message) { this.log('error', type, message); }

  /** @param {Level} level @param {string} type what happened, e.g. 'getUserMedia' @param {any} [message] its details */
  log(level, type, message) {
    if (!LEVELS.includes(level)) level = 'info';
    if (LEVELS.indexOf(level) < LEVELS.indexOf(this.#opts.level)) return;
    const entry = { ts: Date.now(), level, type: String(type), message: plain(message), ...this.fields };
    if (this.#opts.console && type !== 'sdk') console[level === 'debug' ? 'debug' : level]('[stoa log]', entry.type, entry.message ?? '');
    this.#buffer.push(entry);
    if (this.#buffer.length > BUFFER_ENTRIES) {
      this.#buffer.splice(0, this.#buffer.length - BUFFER_ENTRIES);
      this.stats.dropped++;
    }
  }

  /** Changes the fields of later entries (staff, room, url, version), e.g. staff once an agent answers. @param {Fields} fields */
  set(fields) { Object.assign(this.fields, fields); }

  /** Files later batches with this call. */
  setCall(call) { this.call = call || undefined; }

  /** A new token (after a 401, or a renewal): batches wait for it after a 401. */
  setToken(token) {
    this.#token = token ?? '';
    this.#scope = scopeOf(this.#token);
    this.#waitingForToken = false;
    this.#retryAt = 0;
  }

  /** How many batches of this logger's token wait in storage. */
  get unsent() { return this.#stored().length; }

  /** Batches what is buffered and sends what waits, now (resolves when this round of sending is over). */
  flush() { this.#retryAt = 0; return this.#tick(); }

  /** Stops the timer after one last flush; stored batches stay for the next page. */
  close() {
    clearInterval(this.#timer);
    removeEventListener('pagehide', this.#onHide);
    setLogSink(null);
    this.#cut();
    return this.#send(true);
  }

  /* ---------------- batches */

  /** Moves the buffer into batches in storage, each at most BATCH_ENTRIES and BATCH_BYTES. */
  #cut() {
    while (this.#buffer.length) {
      const entries = [];
      let bytes = 0;
      while (this.#buffer.length && entries.length < BATCH_ENTRIES) {
        const size = JSON.stringify(this.#buffer[0]).length;
        if (entries.length && bytes + size > BATCH_BYTES) break;
        entries.push(this.#buffer.shift());
        bytes += size;
      }
      /** @type {Batch} */
      const batch = { scope: this.#scope, session: this.session, batch: `${this.session}-${++this.#seq}`, entries, at: Date.now() };
      if (this.call) batch.call = this.call;
      this.#save(batch);
    }
  }

  #save(batch) {
    try {
      this.#store.setItem(PREFIX + batch.batch, JSON.stringify(batch));
    } catch { // over the quota: make room and try once more
      this.#bound(JSON.stringify(batch).length);
      try { this.#store.setItem(PREFIX + batch.batch, JSON.stringify(batch)); } catch { this.stats.dropped += batch.entries.length; }
    }
    this.#bound(0);
  }

  /** Every stored batch of the origin, oldest first, with its key and size. */
  #all() {
    const out = [];
    for (let i = 0; i < this.#store.length; i++) {
      const key = this.#store.key(i);
      if (!key?.startsWith(PREFIX)) continue;
      const raw = this.#store.getItem(key) ?? '';
      try {
        const b = JSON.parse(raw);
        if (Array.isArray(b.entries) && typeof b.batch === 'string') out.push({ key, b, size: raw.length });
        else this.#store.removeItem(key);
      } catch { this.#store.removeItem(key); }
    }
    return out.sort((x, y) => x.b.at - y.b.at || x.key.localeCompare(y.key));
  }

  /** The stored batches this logger may send: those made under its token's room and uid. */
  #stored() { return this.#all().filter(({ b }) => b.scope === this.#scope); }

  /** Drops the oldest batches until the stored ones fit the bounds with `extra` bytes more. */
  #bound(extra) {
    const all = this.#all();
    let entries = all.reduce((n, x) => n + x.b.entries.length, 0);
    let bytes = all.reduce((n, x) => n + x.size, 0) + extra;
    for (const x of all) {
      if (entries <= this.#opts.maxStoredEntries && bytes <= this.#opts.maxStoredBytes) break;
      if (all.length === 1 && !extra) break; // one batch alone is never dropped for its own size
      this.#store.removeItem(x.key);
      entries -= x.b.entries.length;
      bytes -= x.size;
      this.stats.dropped += x.b.entries.length;
    }
  }

  /* ---------------- sending */

  async #tick() {
    this.#cut();
    if (this.#sending || this.#waitingForToken || Date.now() < this.#retryAt) return;
    await this.#send(false);
  }

  /** Sends the stored batches of this token, oldest first, until one fails or none is left. */
  async #send(keepalive) {
    if (this.#sending) return;
    this.#sending = true;
    try {
      for (let first = true; ; first = false) {
        const next = this.#stored()[0];
        if (!next) return;
        if (!first) await new Promise((r) => setTimeout(r, CATCH_UP_MS));
        if (!(await this.#post(next, keepalive))) return;
      }
    } finally {
      this.#sending = false;
    }
  }

  /** POSTs one stored batch; true when it is done with (acknowledged or hopeless), false to retry later. */
  async #post({ key, b }, keepalive) {
    const body = JSON.stringify({ session: b.session, ...(b.call && { call: b.call }), batch: b.batch, entries: b.entries });
    const headers = { 'Content-Type': 'application/json' };
    if (this.#token) headers.Authorization = `Bearer ${this.#token}`;
    let res;
    this.stats.posted++;
    try {
      res = await fetch(this.url, { method: 'POST', headers, body, keepalive: keepalive && body.length < 60000 });
    } catch {
      return this.#failed(0, null);
    }
    this.stats.lastStatus = res.status;
    if (res.ok) {
      this.#store.removeItem(key);
      this.#failures = 0;
      const reply = await res.json().catch(() => ({}));
      if (reply.duplicate) this.stats.duplicates++; else this.stats.acked++;
      return true;
    }
    if (res.status === 401) { // the token expired: keep the batch until the page has a new one
      this.#waitingForToken = true;
      this.stats.failed++;
      return false;
    }
    if (res.status === 429 || res.status >= 500) return this.#failed(res.status, res.headers.get('Retry-After'));
    // 400, 403, 404, 413: this batch can never succeed
    this.#store.removeItem(key);
    this.stats.forgotten++;
    console.warn('[stoa log] the server refused a log batch for good:', res.status);
    return true;
  }

  #failed(status, retryAfter) {
    this.stats.failed++;
    const wait = Number(retryAfter) > 0 ? Number(retryAfter) * 1000 : BACKOFF_MS[Math.min(this.#failures, BACKOFF_MS.length - 1)];
    this.#failures++;
    this.#retryAt = Date.now() + wait;
    return false;
  }

  /** The page goes away: what is buffered goes to storage, and one last try with keepalive. */
  #flushOnHide() {
    this.#cut();
    if (!this.#sending && !this.#waitingForToken) this.#send(true);
  }
}

/** @param {LoggerOptions} [opts] @returns {ClientLogger} */
export function createLogger(opts) { return new ClientLogger(opts); }
