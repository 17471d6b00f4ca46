// Claim tools on the agent's console: during a call, check that the person on camera is the insured customer
// (faces/verify, or faces/enroll at the first call) and read the ID card or bank card they hold up (ocr). The
// server takes the snapshot of the customer's live video itself and returns it with the result, so the boxes drawn
// here are over exactly the picture that was analysed.
import { hooks, params } from './page.js';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const REQUEST_TIMEOUT_MS = 60_000; // snapshot (≤ 10 s) plus the models on a busy CPU

/** The four tools: their button, the endpoint under /api/rooms/{room}/participants/{uid}/, and whether they need the id. */
const ACTIONS = {
  verify: { button: 'verify-face', path: (id) => `faces/verify?id=${encodeURIComponent(id)}`, needsId: true },
  enroll: {
    button: 'enroll-face', needsId: true,
    path: (id) => `faces/enroll?id=${encodeURIComponent(id)}&mode=${encodeURIComponent($('enroll-mode').value)}`,
  },
  idcard: { button: 'read-idcard', path: () => 'ocr?kind=idcard' },
  bankcard: { button: 'read-bankcard', path: () => 'ocr?kind=bankcard' },
};

/** What the agent reads for each API error code; the server's message is kept for the rest. */
const ERROR_TEXT = {
  no_face: 'No face found: ask the customer to face the camera',
  video_muted: "The customer's camera is off",
  no_video: 'The customer is not sending video',
  snapshot_timeout: "No picture came from the customer's video in time: try again",
  participant_not_found: 'The customer is no longer in the call',
  room_not_found: 'The call is no longer on the server',
  unauthorized: "The console's token is not accepted: sign in again",
  forbidden: "The console's token does not allow claim tools in this call (an agent token with the claim_tools grant is needed)",
  person_exists: 'This id is already enrolled: choose "Add to existing" or "Replace existing" to change it',
  rate_limited: 'Too many checks in a row: wait a few seconds and try again',
  busy: 'The server is busy with other checks: try again in a few seconds',
  frame_too_large: "The customer's video frame is larger than the server analyses",
  image_too_large: 'The picture is too large to analyse',
  face_too_small: 'The face is too small in the picture: ask the customer to come closer to the camera',
  models_missing: 'Face checks and card reading are not installed on this server: tell your administrator (make models)',
  timeout: 'The server took too long to answer: try again',
  network: 'Could not reach the server: check your connection and try again',
};

const KIND_TEXT = { 'idcard-front': 'ID card, front', 'idcard-back': 'ID card, back', bankcard: 'Bank card' };

/** Form labels, in the order the fields are shown; unknown fields follow with their raw name. */
const FIELD_LABELS = {
  name: 'Name', sex: 'Sex', ethnicity: 'Ethnicity', birth_date: 'Date of birth', address: 'Address',
  id_number: 'ID number', issuing_authority: 'Issuing authority', valid_from: 'Valid from', valid_to: 'Valid to',
  card_number: 'Card number', expiry: 'Expiry', bank: 'Bank', network: 'Card network',
};

/**
 * Wires the Claim tools panel of console.html.
 * @param {{getRoom: () => string|null, getToken: () => string|null, logLine: (name: string, detail?: string) => void}} o
 *   getRoom/getToken: the room and the agent's current token (null outside a call)
 * @returns {{refresh: () => void, run: (action: 'verify'|'enroll'|'idcard'|'bankcard') => Promise<void>}}
 */
export function initClaimTools({ getRoom, getToken, logLine }) {
  const state = (hooks.claim = { lastAction: null, lastResult: null, lastError: null, busy: false });
  const personInput = $('person-id');
  personInput.value = params.get('person') ?? '';

  /** The customer: the first remote uid of the call, or null. */
  const targetUid = () => Object.keys(hooks.remoteStreams ?? {})[0] ?? null;
  const inCall = () => !['idle', 'connecting', 'ended', 'error'].includes(hooks.state);

  /** Enables the buttons when a customer is in the call and no request is under way. */
  function refresh() {
    const uid = inCall() ? targetUid() : null;
    for (const a of Object.values(ACTIONS)) $(a.button).disabled = state.busy || uid == null;
    $('claim-hint').textContent = state.busy ? '' : uid == null ? 'Available once the customer is in the call.' : `Customer: uid ${uid}`;
  }

  async function run(action) {
    const a = ACTIONS[action];
    const button = $(a.button);
    if (state.busy || button.disabled) return;
    const room = getRoom(), token = getToken(), uid = targetUid();
    if (!room || !token || uid == null) { refresh(); return; }
    const id = personInput.value.trim();
    Object.assign(state, { lastAction: action, lastResult: null, lastError: null });
    if (a.needsId && !id) {
      fail(action, { code: 'missing_id', message: 'Enter the policy holder id first' });
      personInput.focus();
      return;
    }
    showAlert('');
    state.busy = true;
    const label = button.querySelector('.label');
    const idle = label.textContent;
    label.textContent = 'Taking snapshot…';
    button.setAttribute('aria-busy', 'true');
    button.classList.add('busy');
    $('claim-result').setAttribute('aria-busy', 'true');
    refresh();
    logLine(a.button, `uid ${uid}${a.needsId ? ` as ${id}` : ''}…`);
    try {
      const url = `/api/rooms/${encodeURIComponent(room)}/participants/${encodeURIComponent(uid)}/${a.path(id)}`;
      const body = await post(url, token);
      state.lastResult = body;
      await render(action, body, id);
      logLine(a.button, outcome(action, body));
    } catch (err) {
      fail(action, err.code ? err : { code: 'internal', message: String(err.message ?? err) });
    } finally {
      state.busy = false;
      label.textContent = idle;
      button.removeAttribute('aria-busy');
      button.classList.remove('busy');
      $('claim-result').removeAttribute('aria-busy');
      refresh();
    }
  }

  /** Records and shows an error ({code, message}) of an action. */
  function fail(action, err) {
    state.lastError = { code: err.code, message: err.message, ...(err.status ? { status: err.status } : {}) };
    $('claim-result').hidden = true;
    let text = ERROR_TEXT[err.code] ?? err.message ?? err.code;
    if (err.code === 'unknown_person') text = `No one is enrolled as "${personInput.value.trim()}": check the id, or use Enroll face`;
    showAlert(text);
    logLine(ACTIONS[action].button, `failed: ${err.code}: ${err.message}`);
  }

  $('claim-person').addEventListener('submit', (ev) => { ev.preventDefault(); run('verify'); });
  for (const [action, a] of Object.entries(ACTIONS)) $(a.button).addEventListener('click', () => run(action));
  $('claim-form').addEventListener('submit', (ev) => ev.preventDefault()); // the fields are read, not sent
  $('claim-edit').addEventListener('click', () => {
    const editing = $('claim-edit').getAttribute('aria-pressed') !== 'true';
    $('claim-edit').setAttribute('aria-pressed', String(editing));
    $('claim-edit').textContent = editing ? 'Lock fields' : 'Edit fields';
    for (const input of $('claim-form').querySelectorAll('input[data-field]')) input.readOnly = !editing;
    if (editing) $('claim-form').querySelector('input[data-field]')?.focus();
  });

  // The customer arrives and leaves with the remote video and the page state: follow both.
  new MutationObserver(refresh).observe(document.body, { attributes: true, attributeFilter: ['data-state'] });
  new MutationObserver(refresh).observe($('remote'), { childList: true });
  refresh();
  return { refresh, run };
}

/** POSTs to a live-snapshot endpoint; resolves the JSON, or throws {code, message, status}. */
async function post(url, token) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
  let res;
  try {
    res = await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, signal: ctl.signal });
  } catch (err) {
    throw ctl.signal.aborted
      ? { code: 'timeout', message: `No answer from the server in ${REQUEST_TIMEOUT_MS / 1000} s` }
      : { code: 'network', message: `Could not reach the server (${err.message})` };
  } finally {
    clearTimeout(timer);
  }
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON: reported below */ }
  if (!res.ok) {
    throw { code: body?.code ?? `http_${res.status}`, message: body?.message ?? (text.trim() || res.statusText), status: res.status };
  }
  if (!body || typeof body !== 'object') throw { code: 'bad_reply', message: 'The server answered something that is not JSON' };
  return body;
}

function showAlert(text) {
  const el = $('claim-alert');
  el.textContent = text;
  el.hidden = !text;
}

/** The event-log line for a successful action. */
function outcome(action, r) {
  const many = r.faces > 1 ? ` (${r.faces} faces, largest used)` : '';
  if (action === 'verify') {
    return `${r.same ? 'same person' : 'different person'}: ${r.id} distance ${fmt(r.distance)} (threshold ${r.threshold})${many}`;
  }
  if (action === 'enroll') return `enrolled ${r.id}: ${r.descriptors} face sample(s) on file${many}`;
  if (noCardIn(r)) return `${KIND_TEXT[r.kind] ?? r.kind}: no card found (${r.lines?.length ?? 0} lines of text)`;
  const bad = Object.entries(r.fields ?? {}).filter(([, f]) => !f.valid).map(([k, f]) => `${k} (${f.reason || 'invalid'})`);
  return `${KIND_TEXT[r.kind] ?? r.kind}: ${r.valid ? 'valid' : `not valid: ${bad.join(', ') || 'check the fields'}`}, ${r.lines?.length ?? 0} lines`;
}

const fmt = (n) => (typeof n === 'number' ? n.toFixed(3) : '?');

const NO_CARD_TEXT = 'No card found: ask the customer to hold the card closer, flat and in good light.';

/** Whether an OCR result shows no card: the server found no text (warning no_text), or none of the fields has a value. */
function noCardIn(r) {
  return r.warning === 'no_text' || !(r.lines?.length) || !Object.values(r.fields ?? {}).some((f) => f && f.value);
}

/** Shows a result: the snapshot with its overlay, and the face verdict or the claim form. */
async function render(action, r, id) {
  const isFace = action === 'verify' || action === 'enroll';
  const img = $('claim-image');
  img.alt = isFace ? "Snapshot of the customer's video used for the face check" : "Snapshot of the customer's video used to read the card";
  img.hidden = !r.image;
  if (r.image) {
    img.src = r.image;
    try { await img.decode(); } catch { /* drawn with the reply's size below */ }
  }
  const w = img.naturalWidth || r.width || 640, h = img.naturalHeight || r.height || 480;
  const svg = $('claim-overlay');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.replaceChildren();
  svg.hidden = !r.image;
  const dot = Math.max(1.5, Math.min(w, h) / 200);

  $('face-result').hidden = !isFace;
  $('ocr-result').hidden = isFace;
  $('claim-form').hidden = isFace;
  if (isFace) {
    const tone = action === 'enroll' ? 'info' : r.same ? 'ok' : 'bad';
    svg.dataset.tone = tone;
    const b = r.face?.box;
    if (b) svg.append(el('rect', { class: 'face-box', x: b.X, y: b.Y, width: b.W, height: b.H }));
    for (const p of r.face?.landmarks ?? []) svg.append(el('circle', { class: 'landmark', cx: p.X, cy: p.Y, r: dot }));
    const verdict = $('face-verdict');
    const verify = action === 'verify';
    $('face-verify').hidden = !verify;
    if (verify) {
      verdict.textContent = r.same ? 'Same person' : 'Different person';
      verdict.className = `badge ${r.same ? 'ok' : 'bad'}`;
      $('face-distance').textContent = fmt(r.distance);
      $('face-threshold').textContent = String(r.threshold);
      $('face-who').textContent = r.name ?? '';
    }
    $('face-enrolled').hidden = verify;
    $('face-enrolled').textContent = verify ? '' : `Enrolled as ${r.id}: ${r.descriptors} face sample${r.descriptors === 1 ? '' : 's'} on file.`;
    $('face-count').hidden = !(r.faces > 1);
    $('face-count').textContent = r.faces > 1 ? `${r.faces} faces found, the largest was used` : '';
    $('claim-summary').textContent = verify ? `Face check against ${id}` : `Face enrolled for ${id}`;
  } else {
    svg.dataset.tone = 'info';
    for (const line of r.lines ?? []) {
      const poly = el('polygon', { class: 'ocr-line', points: (line.box ?? []).map((p) => `${p.X},${p.Y}`).join(' ') });
      poly.append(el('title', {}, line.text));
      svg.append(poly);
    }
    // No text at all, or not one of the card's fields read: there is no card in the picture. Say so, and what to
    // ask for, rather than a form of "not found" fields.
    const noCard = noCardIn(r);
    $('claim-form').hidden = noCard;
    $('ocr-result').hidden = noCard;
    if (noCard) showAlert(NO_CARD_TEXT);
    else renderForm(r);
    $('claim-summary').textContent = noCard ? `No card found (${KIND_TEXT[r.kind] ?? r.kind})` : KIND_TEXT[r.kind] ?? r.kind;
  }
  const result = $('claim-result');
  result.dataset.action = action;
  result.hidden = false;
  result.scrollIntoView({ block: 'nearest' });
}

/** Fills #claim-form with the document's fields (read-only until the agent chooses to edit them). */
function renderForm(r) {
  const fields = r.fields ?? {};
  const names = [
    ...Object.keys(FIELD_LABELS).filter((k) => k in fields),
    ...Object.keys(fields).filter((k) => !(k in FIELD_LABELS)).sort(),
  ];
  const box = $('claim-fields');
  box.replaceChildren();
  for (const name of names) {
    const f = fields[name];
    const inputId = `claim-field-${name}`;
    const row = document.createElement('div');
    row.className = 'claim-field';
    const label = el('label', { for: inputId }, FIELD_LABELS[name] ?? name.replaceAll('_', ' '), true);
    const input = document.createElement('input');
    Object.assign(input, { id: inputId, name, value: f.value ?? '', readOnly: true, autocomplete: 'off', spellcheck: false });
    input.dataset.field = name;
    row.append(label, input);
    if (!f.valid) {
      const reason = f.reason || 'not valid';
      input.classList.add('invalid');
      input.setAttribute('aria-invalid', 'true');
      input.title = reason;
      const hint = el('small', { class: 'hint', id: `${inputId}-hint` }, reason, true);
      input.setAttribute('aria-describedby', hint.id);
      row.append(hint);
    } else if (typeof f.confidence === 'number') {
      input.title = `confidence ${f.confidence.toFixed(2)}`;
    }
    box.append(row);
  }
  if (!names.length) box.append(el('p', { class: 'hint' }, 'No fields were read.', true));

  const valid = $('claim-valid');
  valid.textContent = r.valid ? 'All fields valid' : 'Not valid: check the fields in red';
  valid.className = `badge ${r.valid ? 'ok' : 'bad'}`;
  const noText = r.warning === 'no_text' || !(r.lines?.length);
  $('claim-warning').hidden = !noText;
  $('claim-warning').textContent = noText ? 'No text found: ask the customer to hold the card closer, flat and in good light.' : '';
  const edit = $('claim-edit');
  edit.setAttribute('aria-pressed', 'false');
  edit.textContent = 'Edit fields';
  edit.hidden = !names.length;

  const lines = $('claim-lines');
  lines.replaceChildren(...(r.lines ?? []).map((l) => el('li', { title: `score ${Number(l.score).toFixed(2)}` }, l.text, true)));
  $('claim-lines-count').textContent = String(r.lines?.length ?? 0);
}

/** Creates an SVG element (or, with html, an HTML element) with attributes and text. */
function el(tag, attrs, text, html = false) {
  const e = html ? document.createElement(tag) : document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text != null) e.textContent = text;
  return e;
}
