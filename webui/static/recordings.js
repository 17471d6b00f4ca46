// /recordings: the recorded calls and a player for their files. The player does what the claims app's own
// player does: play/pause, current and total time (mm:ss), a bar to click or drag (mouse, pen or touch) to
// seek, a big play icon over the paused video, no download or picture-in-picture, and the next file when one
// ends. Each file shows whether it still matches its signed manifest (verified / altered).
//
// Access: dev mode on loopback needs nothing; otherwise an operator key or a host token of the room, kept in
// sessionStorage and sent as a bearer token.

/**
 * Test hooks, read by the browser tests.
 * state: 'loading' | 'need-key' | 'ready' | 'error'
 * recordings: the last list from the API
 * verify: {"<id>/<file>": {ok, status, cluster, reason}}
 * current: {id, file, durationMs} of the file in the player, or null
 */
const hooks = (window.__recordings = { state: 'loading', recordings: [], verify: {}, current: null });

const KEY_STORE = 'stoa.recordings.key';
const SEEK_STEP = 5; // seconds, arrow keys
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

const els = {
  status: $('status'), filter: $('filter'), room: $('filter-room'), uid: $('filter-uid'),
  keyForm: $('key-form'), key: $('key'), keyError: $('key-error'),
  list: $('list'), listEmpty: $('list-empty'), refresh: $('refresh'),
  player: $('player'), video: $('video'), bigPlay: $('big-play'), empty: $('player-empty'), busy: $('player-busy'),
  play: $('play'), current: $('time-current'), total: $('time-total'),
  progress: $('progress'), fill: $('progress-fill'), thumb: $('progress-thumb'), nowPlaying: $('now-playing'),
};

/* ------------------------------------------------------------------ access */

let key = sessionStorage.getItem(KEY_STORE) || '';

class HTTPError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** fetch with the key, if any, as a bearer token; throws HTTPError on a non-2xx answer. */
async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  if (key) headers.set('Authorization', `Bearer ${key}`);
  const res = await fetch(path, { ...init, headers, cache: 'no-store' });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new HTTPError(res.status, body.message || `${res.status} ${res.statusText}`);
  }
  return res;
}

function setState(state, text) {
  hooks.state = state;
  document.body.dataset.state = state;
  els.status.textContent = text;
}

function askKey(message) {
  setState('need-key', 'Sign in');
  els.keyForm.hidden = false;
  els.keyError.textContent = message;
  els.key.focus();
}

els.keyForm.addEventListener('submit', (e) => {
  e.preventDefault();
  key = els.key.value.trim();
  sessionStorage.setItem(KEY_STORE, key);
  els.key.value = '';
  load();
});

/* ------------------------------------------------------------------ the list */

/** Every file in list order, as {rec, part}: what "next file" walks through. */
let files = [];
let loading = null;

async function load() {
  if (loading) return loading;
  loading = (async () => {
    setState(hooks.state === 'ready' ? 'ready' : 'loading', 'Loading…');
    const q = new URLSearchParams();
    if (els.room.value.trim()) q.set('room', els.room.value.trim());
    if (els.uid.value.trim()) q.set('uid', els.uid.value.trim());
    try {
      const res = await api(`/api/recordings?${q}`);
      const { recordings = [] } = await res.json();
      els.keyForm.hidden = true;
      show(recordings);
      setState('ready', `${recordings.length} recording${recordings.length === 1 ? '' : 's'}`);
    } catch (err) {
      if (err.status === 401) askKey(key ? 'That key was refused.' : '');
      else if (err.status === 403) askKey(err.message);
      else setState('error', `Could not list recordings: ${err.message}`);
    } finally {
      loading = null;
    }
  })();
  return loading;
}

/** Newest first; the API returns them in no promised order. */
const byStart = (a, b) => String(b.started).localeCompare(String(a.started));

function show(recordings) {
  recordings = [...recordings].sort(byStart);
  const same = JSON.stringify(recordings) === JSON.stringify(hooks.recordings);
  hooks.recordings = recordings;
  files = recordings.flatMap((rec) => (rec.parts ?? []).map((part) => ({ rec, part })));
  if (same && els.list.childElementCount) return schedule(recordings); // keep the rows, and the focus in them
  els.list.replaceChildren(...recordings.map(recordingItem));
  els.listEmpty.hidden = recordings.length > 0;
  for (const { rec, part } of files) verify(rec, part);
  markPlaying();
  schedule(recordings);
}

/** While a recording runs, the list is read again every 5 s: its state and parts change when it stops. */
function schedule(recordings) {
  clearTimeout(schedule.timer);
  if (recordings.some((r) => r.state === 'recording')) schedule.timer = setTimeout(load, 5000);
}

/** A new element with properties and children (null children are skipped). */
function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children.filter((c) => c != null));
  return e;
}

function recordingItem(rec) {
  const total = (rec.parts ?? []).reduce((ms, p) => ms + (p.duration_ms || 0), 0);
  const head = el('div', { className: 'rec-head' },
    el('span', { className: 'rec-room', textContent: rec.room }),
    el('span', { className: 'rec-uid', textContent: `user ${rec.uid}` }),
    el('time', { className: 'rec-started', dateTime: rec.started, textContent: when(rec.started) }),
    el('span', { className: 'rec-duration', textContent: rec.state === 'recording' ? '' : clock(Math.round(total / 1000)) }),
    el('span', { className: `rec-state badge ${rec.state}`, textContent: rec.state }),
  );
  const parts = el('ol', { className: 'rec-files' }, ...(rec.parts ?? []).map((part, i) => fileItem(rec, part, i)));
  const li = el('li', { className: 'rec' }, head, rec.error ? el('p', { className: 'rec-error', textContent: rec.error }) : null, parts);
  li.dataset.id = rec.id;
  li.dataset.state = rec.state;
  return li;
}

function fileItem(rec, part, i) {
  const open = el('button', { type: 'button', className: 'open' },
    el('span', { className: 'file-name', textContent: `Part ${i + 1}` }),
    el('span', { className: 'file-meta', textContent: fileMeta(part) }),
  );
  open.setAttribute('aria-label', `Play part ${i + 1} of ${rec.room}, user ${rec.uid}`);
  open.addEventListener('click', () => openFile(rec, part, { play: true }));
  const badge = el('span', { className: 'verify badge', textContent: 'checking…', title: '' });
  badge.dataset.status = 'checking';
  const li = el('li', { className: 'file' }, open, badge);
  li.dataset.id = rec.id;
  li.dataset.file = part.file;
  return li;
}

function fileMeta(part) {
  const bits = [clock(Math.round(part.duration_ms / 1000))];
  if (part.width && part.height) bits.push(`${part.width}×${part.height}`);
  bits.push([part.video_codec, part.audio_codec].filter(Boolean).join(' + '));
  if (part.bytes) bits.push(size(part.bytes));
  return bits.filter(Boolean).join(' · ');
}

/** Asks the server to re-hash a file against its signed manifest, and shows the answer on its row. */
async function verify(rec, part) {
  const k = `${rec.id}/${part.file}`;
  let v = hooks.verify[k];
  if (v && (v.status === 'verified' || v.status === 'altered')) {
    // checked already; Refresh checks again
  } else if (rec.state === 'recording') {
    v = { ok: false, status: 'unsigned', reason: 'still recording: the file is signed when the recording stops' };
  } else {
    try {
      const res = await api(`/api/recordings/${enc(rec.id)}/files/${enc(part.file)}/verify`);
      v = await res.json();
      v.status ||= v.ok ? 'verified' : 'altered';
    } catch (err) {
      v = { ok: false, status: 'unknown', reason: `could not check: ${err.message}` };
    }
  }
  hooks.verify[k] = v;
  const badge = els.list.querySelector(`li.file[data-id="${CSS.escape(rec.id)}"][data-file="${CSS.escape(part.file)}"] .verify`);
  if (!badge) return;
  badge.dataset.status = v.status;
  badge.textContent = { verified: 'verified', altered: 'altered', unsigned: 'not signed yet', unknown: 'not checked' }[v.status] ?? v.status;
  badge.title = v.reason || (v.ok ? 'The file matches its signed manifest.' : '');
}

function markPlaying() {
  for (const li of els.list.querySelectorAll('li.file')) {
    const on = hooks.current && li.dataset.id === hooks.current.id && li.dataset.file === hooks.current.file;
    li.classList.toggle('playing', !!on);
    li.querySelector('.open').setAttribute('aria-current', on ? 'true' : 'false');
  }
}

els.filter.addEventListener('submit', (e) => {
  e.preventDefault();
  const q = new URLSearchParams(location.search);
  for (const [name, input] of [['room', els.room], ['uid', els.uid]]) {
    if (input.value.trim()) q.set(name, input.value.trim());
    else q.delete(name);
  }
  history.replaceState(null, '', `${location.pathname}${q.size ? `?${q}` : ''}`);
  load();
});
els.refresh.addEventListener('click', () => {
  hooks.verify = {}; // Refresh checks every file again
  hooks.recordings = [];
  load();
});

/* ------------------------------------------------------------------ the player */

const video = els.video;
let objectURL = '';
let dragging = null; // {time} while the bar is held

// No native controls, menus or picture-in-picture: the page's controls are the only ones.
video.controls = false;
video.disablePictureInPicture = true;
video.addEventListener('contextmenu', (e) => e.preventDefault());

/** The file's length in seconds: the recording's own figure, else what the element knows (a WebM still being
 * written can say Infinity until its cues are read), else 0. */
function duration() {
  const ms = hooks.current?.durationMs;
  if (ms > 0) return ms / 1000;
  return Number.isFinite(video.duration) ? video.duration : 0;
}

async function openFile(rec, part, { play = false } = {}) {
  hooks.current = { id: rec.id, file: part.file, durationMs: part.duration_ms || 0 };
  markPlaying();
  els.player.dataset.state = 'loading';
  els.empty.hidden = true;
  els.nowPlaying.textContent = `${rec.room} · user ${rec.uid} · ${when(rec.started)} · part ${rec.parts.indexOf(part) + 1} of ${rec.parts.length}`;
  if (objectURL) URL.revokeObjectURL(objectURL);
  objectURL = '';
  const url = `/api/recordings/${enc(rec.id)}/files/${enc(part.file)}`;
  if (!key) {
    video.src = url; // dev mode: the element fetches the file itself, with range requests
  } else {
    // A <video> cannot send a bearer token, so the file comes through fetch as a blob (still seekable).
    busy('Loading the file…');
    try {
      const blob = await (await api(url)).blob();
      if (hooks.current?.file !== part.file) return; // another file was chosen meanwhile
      video.src = objectURL = URL.createObjectURL(blob);
    } catch (err) {
      busy(`Could not load the file: ${err.message}`);
      return;
    }
  }
  busy('');
  els.play.disabled = false;
  els.progress.setAttribute('aria-disabled', 'false');
  render();
  if (play) video.play().catch(() => render());
}

function busy(text) {
  els.busy.hidden = !text;
  els.busy.textContent = text;
}

function toggle() {
  if (!hooks.current) return;
  if (video.paused || video.ended) video.play().catch(() => {});
  else video.pause();
}

function seek(t) {
  const d = duration();
  if (!hooks.current || !d) return;
  video.currentTime = Math.min(Math.max(t, 0), d);
  render();
}

function next() {
  if (!hooks.current) return false;
  const i = files.findIndex((f) => f.rec.id === hooks.current.id && f.part.file === hooks.current.file);
  const nextFile = i >= 0 ? files[i + 1] : null;
  if (!nextFile) return false;
  openFile(nextFile.rec, nextFile.part, { play: true });
  return true;
}

/** Shows the element's state: icon, times, bar. While the bar is held it shows the held position. */
function render() {
  const d = duration();
  const t = dragging ? dragging.time : Math.min(video.currentTime || 0, d || Infinity);
  const paused = video.paused || video.ended;
  els.player.dataset.state = !hooks.current ? 'empty' : paused ? 'paused' : 'playing';
  els.bigPlay.hidden = !hooks.current || !paused;
  els.play.setAttribute('aria-label', paused ? 'Play' : 'Pause');
  els.play.dataset.playing = String(!paused);
  els.current.textContent = clock(t);
  els.total.textContent = clock(Math.round(d)); // a 4.6 s file is 00:05 long
  const frac = d ? Math.min(t / d, 1) : 0;
  els.fill.style.transform = `scaleX(${frac})`;
  els.thumb.style.left = `${frac * 100}%`;
  els.progress.setAttribute('aria-valuemax', String(Math.round(d)));
  els.progress.setAttribute('aria-valuenow', String(Math.round(t)));
  els.progress.setAttribute('aria-valuetext', `${clock(t)} of ${clock(d)}`);
}

for (const name of ['play', 'pause', 'timeupdate', 'durationchange', 'loadedmetadata', 'seeked', 'emptied']) {
  video.addEventListener(name, render);
}
video.addEventListener('ended', () => {
  if (!next()) render();
});
video.addEventListener('error', () => {
  if (hooks.current) busy(`This file cannot be played here (${video.error?.message || `error ${video.error?.code}`}).`);
});
video.addEventListener('click', toggle);
els.bigPlay.addEventListener('click', toggle);
els.play.addEventListener('click', toggle);

// The bar: a press seeks to where it lands; a drag (mouse, pen or touch, one pointer) shows the position it
// is held at and seeks when released.
function timeAt(e) {
  const r = els.progress.getBoundingClientRect();
  return r.width ? (Math.min(Math.max(e.clientX - r.left, 0), r.width) / r.width) * duration() : 0;
}
els.progress.addEventListener('pointerdown', (e) => {
  if (!hooks.current || !duration() || (e.pointerType === 'mouse' && e.button !== 0)) return;
  e.preventDefault();
  els.progress.setPointerCapture(e.pointerId);
  els.progress.focus({ preventScroll: true });
  dragging = { id: e.pointerId, time: timeAt(e) };
  els.progress.classList.add('dragging');
  render();
});
els.progress.addEventListener('pointermove', (e) => {
  if (dragging?.id !== e.pointerId) return;
  dragging.time = timeAt(e);
  render();
});
function release(e, commit) {
  if (dragging?.id !== e.pointerId) return;
  const t = commit ? timeAt(e) : null;
  dragging = null;
  els.progress.classList.remove('dragging');
  if (t != null) seek(t);
  else render();
}
els.progress.addEventListener('pointerup', (e) => release(e, true));
els.progress.addEventListener('pointercancel', (e) => release(e, false));
els.progress.addEventListener('keydown', (e) => {
  const step = { ArrowLeft: -SEEK_STEP, ArrowDown: -SEEK_STEP, ArrowRight: SEEK_STEP, ArrowUp: SEEK_STEP, PageDown: -30, PageUp: 30 }[e.key];
  if (step != null) seek(video.currentTime + step);
  else if (e.key === 'Home') seek(0);
  else if (e.key === 'End') seek(duration());
  else return;
  e.preventDefault();
  e.stopPropagation();
});

// Page keys: Space (or K) plays and pauses, arrows seek 5 s, N goes to the next file. Not while typing; a
// focused button keeps Space for itself (it presses the button).
document.addEventListener('keydown', (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey || e.target.closest?.('input, select, textarea, [contenteditable]')) return;
  const onButton = !!e.target.closest?.('button, a');
  switch (e.key) {
    case ' ':
    case 'k':
      if (onButton && e.key === ' ') return;
      toggle();
      break;
    case 'ArrowLeft':
      seek(video.currentTime - SEEK_STEP);
      break;
    case 'ArrowRight':
      seek(video.currentTime + SEEK_STEP);
      break;
    case 'n':
      next();
      break;
    default:
      return;
  }
  e.preventDefault();
});

/* ------------------------------------------------------------------ formatting */

/** Seconds as mm:ss (h:mm:ss from an hour), rounded down as players count. */
function clock(s) {
  s = Math.max(0, Math.floor(Number.isFinite(s) ? s : 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const two = (n) => String(n).padStart(2, '0');
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${two(m)}:${two(s % 60)}`;
}

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

function size(bytes) {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} kB`;
}

const enc = encodeURIComponent;

/* ------------------------------------------------------------------ start */

els.room.value = params.get('room') ?? '';
els.uid.value = params.get('uid') ?? '';
render();
load();
