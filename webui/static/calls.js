// /console/calls: the call records (docs/call-center.md). Search by claim number, agent and date; open a record:
// its times and durations, outcome, incident number, the customer's network summary and device, its recordings
// and the client logs filed with it. Signed in as in the console (the same stored agent token); in dev mode on
// loopback the page also works without one.
import { api, explain } from './agent-errors.js';
import { loadToken, saveToken, clearToken, claimsOf, refuse, devMode } from './agent-auth.js';
import {
  LEVEL_WORDS, OUTCOME_WORDS, STATE_WORDS, describeDevice, describeNetwork, duration, when, clock, el,
} from './calls-format.js';

/** Test hooks: state 'loading' | 'need-sign-in' | 'ready' | 'error'; list: the last search; record: the open one. */
const hooks = (window.__records = { state: 'loading', list: [], record: null, error: null });
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let token = '';
let dev = false;

function setState(state, text) {
  hooks.state = state;
  document.body.dataset.state = state;
  $('status').textContent = text;
}

/* ------------------------------------------------------------------ signing in */

function signedIn(t) {
  token = t;
  const c = t ? claimsOf(t) : null;
  $('who').hidden = false;
  $('who-id').textContent = c ? `Signed in as ${c.uid}` : 'Dev mode: no sign-in needed';
  $('sign-out').hidden = !c;
  $('signin-form').hidden = true;
}

function askSignIn(code, message) {
  setState('need-sign-in', 'Sign in');
  $('signin-form').hidden = false;
  $('who').hidden = true;
  const box = $('signin-error');
  box.hidden = !code;
  box.textContent = code ? explain(code, message) : '';
  $('signin-token').focus();
}

$('signin-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const t = $('signin-token').value.trim();
  $('signin-token').value = '';
  const why = refuse(t);
  if (why) return askSignIn(why);
  saveToken(t);
  signedIn(t);
  search();
});
$('sign-out').addEventListener('click', () => {
  clearToken();
  token = '';
  if (dev) signedIn('');
  else askSignIn('');
});

/** The API with the sign-in token; a refused token asks to sign in again. */
async function call(path) {
  try {
    return await api(path, { token });
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      clearToken();
      token = '';
      askSignIn(err.status === 403 ? 'not_agent' : 'token_expired', err.message);
    }
    throw err;
  }
}

/* ------------------------------------------------------------------ the search */

/** A yyyy-mm-dd of a date input as Unix ms at the start of that local day (+ days). */
const dayMs = (value, days = 0) => {
  const [y, m, d] = value.split('-').map(Number);
  return new Date(y, m - 1, d + days).getTime();
};

async function search() {
  const q = new URLSearchParams();
  const claim = $('q-claim').value.trim();
  const agent = $('q-agent').value.trim();
  if (claim) q.set('claim', claim);
  if (agent) q.set('agent', agent);
  if ($('q-since').value) q.set('since', String(dayMs($('q-since').value)));
  if ($('q-until').value) q.set('until', String(dayMs($('q-until').value, 1) - 1)); // the whole "to" day
  q.set('limit', '200');
  $('list-error').hidden = true;
  setState('loading', 'Searching…');
  try {
    const { calls = [] } = await call(`/api/calls?${q}`);
    hooks.list = calls;
    $('calls-list').replaceChildren(...calls.map(row));
    $('list-empty').hidden = calls.length > 0;
    markOpen();
    setState('ready', `${calls.length} call${calls.length === 1 ? '' : 's'}`);
  } catch (err) {
    hooks.error = err.code;
    if (hooks.state === 'need-sign-in') return;
    $('list-error').textContent = explain(err.code, err.message);
    $('list-error').hidden = false;
    setState('error', 'Could not search');
  }
}

function row(rec) {
  const button = el('button', { type: 'button', className: 'call-row', id: `call-${rec.id}` },
    el('span', { className: 'c-claim', textContent: rec.claim }),
    el('span', { className: 'c-customer', textContent: rec.customer }),
    el('span', { className: 'c-when', textContent: when(rec.createdAt) }),
    el('span', { className: 'c-agent', textContent: rec.agent || '—' }),
    el('span', { className: 'c-state', textContent: rec.outcome ? OUTCOME_WORDS[rec.outcome] ?? rec.outcome : STATE_WORDS[rec.state] ?? rec.state }),
    el('span', { className: 'c-talk', textContent: rec.talkMs ? clock(rec.talkMs) : '' }));
  button.dataset.id = rec.id;
  button.addEventListener('click', () => open(rec.id));
  return el('li', {}, button);
}

$('search').addEventListener('submit', (ev) => { ev.preventDefault(); search(); });

/* ------------------------------------------------------------------ a record */

async function open(id) {
  try {
    const rec = await call(`/api/calls/${encodeURIComponent(id)}`);
    hooks.record = rec;
    render(rec);
    const url = new URL(location.href);
    url.searchParams.set('id', id);
    history.replaceState(null, '', url);
    markOpen();
    $('record').scrollIntoView({ block: 'start' });
  } catch (err) {
    hooks.error = err.code;
    if (hooks.state === 'need-sign-in') return;
    $('list-error').textContent = explain(err.code, err.message);
    $('list-error').hidden = false;
  }
}

function markOpen() {
  for (const b of document.querySelectorAll('.call-row')) b.setAttribute('aria-current', String(b.dataset.id === hooks.record?.id));
}

const text = (id, value) => { $(id).textContent = value || '—'; };

function render(rec) {
  $('record').hidden = false;
  $('r-claim').textContent = rec.claim;
  $('r-customer').textContent = rec.customer;
  $('r-state').textContent = STATE_WORDS[rec.state] ?? rec.state;
  $('r-state').dataset.state = rec.state;
  $('r-id').textContent = rec.id;
  text('r-agent', rec.agent);
  text('r-outcome', rec.outcome ? OUTCOME_WORDS[rec.outcome] ?? rec.outcome : '');
  text('r-incident', rec.incidentNo);
  text('r-notes', rec.notes);
  text('r-queued', when(rec.queuedAt));
  text('r-answered', when(rec.answeredAt));
  text('r-ended', when(rec.endedAt));
  text('r-wait', duration(rec.waitMs));
  text('r-talk', duration(rec.talkMs));
  text('r-ended-by', rec.endedBy);
  text('r-attempts', String(rec.attempts ?? 0));

  const n = rec.network;
  text('r-network', n && n.samples
    ? `best ${LEVEL_WORDS[n.minLevel]} (${n.minLevel}), average ${n.avgLevel.toFixed(1)}, worst ${LEVEL_WORDS[n.maxLevel]} (${n.maxLevel}); `
      + `lost up to ${Math.round(n.maxLoss * 100)} % of pings; ${n.samples} reports`
    : 'no reports (the customer never joined, or the call was too short)');
  text('r-client-network', describeNetwork(rec.clientNetwork).text);

  text('r-device-line', describeDevice(rec.device));
  const dl = $('r-device');
  dl.replaceChildren();
  for (const [k, v] of Object.entries(rec.device ?? {})) {
    if (v === '' || v == null) continue;
    dl.append(el('dt', { textContent: k }), el('dd', { textContent: typeof v === 'object' ? JSON.stringify(v) : String(v) }));
  }

  renderRecordings(rec);
  renderLogs(rec);
}

/* ------------------------------------------------------------------ recordings */

/**
 * The call's recordings: in dev mode a player each (the files need no credentials from loopback); otherwise a link
 * to /recordings for the call's room, which asks for an operator key (an agent's sign-in may not fetch files).
 */
async function renderRecordings(rec) {
  const ids = rec.recordings ?? [];
  const list = $('r-recordings');
  list.replaceChildren();
  $('r-rec-none').hidden = ids.length > 0;
  const room = `call-${rec.id}`;
  const note = $('r-rec-note');
  note.hidden = !ids.length || dev;
  note.replaceChildren('Playing recordings needs the operator key: ',
    el('a', { href: `/recordings?room=${encodeURIComponent(room)}`, textContent: 'open them in Recordings' }), '.');
  for (const id of ids) {
    const li = el('li', { className: 'rec-item' }, el('p', { className: 'mono', textContent: id }));
    li.dataset.id = id;
    list.append(li);
    if (!dev) continue;
    try {
      const info = await api(`/api/recordings/${encodeURIComponent(id)}`); // dev mode: no credentials
      for (const part of info.parts ?? []) {
        const video = el('video', {
          controls: true, preload: 'metadata', playsInline: true, className: 'rec-video',
          src: `/api/recordings/${encodeURIComponent(id)}/files/${encodeURIComponent(part.file)}`,
        });
        video.dataset.file = part.file;
        li.append(video, el('p', { className: 'small', textContent: `${part.file} · ${clock(part.duration_ms)} · ${info.uid}` }));
      }
      li.append(el('a', { href: `/recordings?room=${encodeURIComponent(room)}`, textContent: 'Open in Recordings (verification)' }));
    } catch (err) {
      li.append(el('p', { className: 'form-error', textContent: explain(err.code, err.message) }));
    }
  }
}

/* ------------------------------------------------------------------ client logs */

const LEVEL_RANK = { debug: 0, info: 1, warn: 2, error: 3 };

function renderLogs(rec) {
  const min = LEVEL_RANK[$('r-logs-level').value] ?? 0;
  const logs = (rec.logs ?? []).filter((e) => (LEVEL_RANK[e.level] ?? 1) >= min);
  $('r-logs-count').textContent = String(rec.logs?.length ?? 0);
  $('r-logs').tBodies[0].replaceChildren(...logs.map((e) => {
    const tr = el('tr', { className: `lvl-${e.level}` },
      el('td', { className: 'mono', textContent: e.ts ? new Date(e.ts).toLocaleTimeString(undefined, { hour12: false }) + `.${String(e.ts % 1000).padStart(3, '0')}` : '' }),
      el('td', { textContent: e.level }),
      el('td', { textContent: e.from ?? '' }),
      el('td', { textContent: e.type ?? '' }),
      el('td', { className: 'mono msg', textContent: typeof e.message === 'string' ? e.message : JSON.stringify(e.message ?? '') }));
    tr.title = [e.staff && `staff ${e.staff}`, e.url, e.version && `version ${e.version}`, `session ${e.session}`].filter(Boolean).join(' · ');
    return tr;
  }));
}
$('r-logs-level').addEventListener('change', () => hooks.record && renderLogs(hooks.record));

/* ------------------------------------------------------------------ start */

(async () => {
  dev = await devMode();
  $('q-claim').value = params.get('claim') ?? '';
  $('q-agent').value = params.get('agent') ?? '';
  const saved = loadToken();
  if (saved && !refuse(saved)) signedIn(saved);
  else if (dev) signedIn('');
  else return askSignIn('');
  await search();
  if (params.get('id')) await open(params.get('id'));
})();
