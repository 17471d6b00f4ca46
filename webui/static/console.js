// The agent's console (/console). Signed in with an agent token it is a call-center desk: presence, ringing calls,
// answer, the call with the claim tools, hang up with an outcome (agent-desk.js, agent-call.js). With ?room= it
// joins that room directly (the two-tab demo and the older browser tests: /console?room=R&uid=U&autoanswer=1).
// Both show the customer large (the whole picture), the agent's own camera small, the network and the events.
import { hooks, params, setState, setStateTexts, randomUid, getToken, startCall, markToggle, showNotice } from './page.js';
import { initClaimTools } from './claim.js';
import { watchAgentNetwork } from './quality.js';
import { explain } from './agent-errors.js';
import { initAgentDesk } from './agent-desk.js';
import { initCallDesk } from './agent-call.js';
import { initCallLinks } from './agent-link.js';

const $ = (id) => document.getElementById(id);
const MAX_LOG = 300;
const direct = params.has('room');
document.body.dataset.mode = direct ? 'direct' : 'center';
setStateTexts({ waiting: 'Waiting for the customer…', 'peer-left': 'The customer left' });

let call = null;
/** The current call's room and the agent's token (kept fresh across renewals): the claim tools call the API with them. */
let session = null;

/** The agent's client logger (SDK createLogger) while signed in: every event-log line goes to the call's record too. */
const clientLog = { logger: null };

/** Appends a line to the event log panel (and, signed in, to the client logs). */
function logLine(name, detail = '') {
  clientLog.logger?.log(name === 'error' ? 'error' : name === 'notice' ? 'warn' : 'info', name, detail);
  const li = document.createElement('li');
  const time = new Date().toISOString().slice(11, 23);
  li.innerHTML = '<time></time> <b></b> <span></span>';
  li.children[0].textContent = time;
  li.children[1].textContent = name;
  li.children[2].textContent = detail;
  const log = $('log');
  log.append(li);
  while (log.children.length > MAX_LOG) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight; // scroll the log only: on a narrow screen the page itself scrolls
}

function describe(name, evt) {
  if (!evt) return '';
  if (name === 'connection-state-change') return `${evt.prevState} → ${evt.curState}`;
  if (name === 'error') return String(evt.reason ?? '');
  if (name === 'network-tip') return `uid ${evt.uid}: ${evt.tip || 'cleared'} (lost ${evt.lostRate}, ${evt.continueLostCount} in a row)`;
  const uid = evt.uid ?? evt.stream?.getId?.();
  return [uid != null && `uid ${uid}`, evt.reason].filter(Boolean).join(' ');
}

function notice(text, action) {
  showNotice(text, action);
  if (text) logLine('notice', text);
}

/** Starts the media of a room with the console's options; both modes call it. */
function join({ room, uid, token, renew }) {
  notice('');
  markToggle($('mute-audio'), false, 'Unmute', 'Mute');
  markToggle($('mute-video'), false, 'Camera on', 'Camera off');
  const s = (session = { room, token });
  const renewAndKeep = async (r, u) => {
    const fresh = await renew(r, u);
    if (fresh) s.token = fresh;
    return fresh;
  };
  call = startCall({
    room, uid, token, renew: renewAndKeep, codec: params.get('codec') ?? undefined, profile: params.get('profile') ?? undefined,
    waitForPeer: true, explain: (code) => explain(code), onNotice: notice,
    onEvent: (name, evt) => {
      logLine(name, describe(name, evt));
      setTimeout(claims.refresh); // after page.js has updated hooks.remoteStreams for this event
      if (name === 'peer-leave' && !direct && calls?.active()) {
        notice('The customer left the call. They may come back from their link; otherwise hang up and file the call.');
      } else if (name === 'peer-online' || name === 'stream-subscribed') {
        if ($('notice').querySelector('.text').textContent.startsWith('The customer left')) notice('');
      }
    },
  });
  watchAgentNetwork(call.client);
  return call;
}

function leave() {
  call?.hangup();
  call = null;
  session = null;
  claims.refresh();
}

/* ------------------------------------------------------------------ direct mode: /console?room=R */

async function joinDirect() {
  if (!['idle', 'ended', 'error'].includes(hooks.state)) return;
  const room = $('room').value.trim() || params.get('room') || 'demo';
  const uid = params.get('uid') || randomUid();
  setState('connecting');
  logLine('join', `room ${room} as uid ${uid}`);
  try {
    const { token, renew } = await getToken({ token: params.get('token'), room, uid, tag: 'agent', can: ['claim_tools'] });
    join({ room, uid, token, renew });
  } catch (err) {
    setState('error', err.message);
    logLine('error', err.message);
  }
}

/* ------------------------------------------------------------------ the controls */

function toggleAudio() { markToggle($('mute-audio'), call?.toggleAudio(), 'Unmute', 'Mute'); }
function toggleVideo() { markToggle($('mute-video'), call?.toggleVideo(), 'Camera on', 'Camera off'); }
function hangup() {
  if (!direct) { calls.hangup(); return; }
  if (!call || hooks.state === 'ended') return;
  leave();
  logLine('hangup');
  $('room').focus();
}

const claims = initClaimTools({ getRoom: () => session?.room ?? null, getToken: () => session?.token ?? null, logLine });
let calls = null;

$('mute-audio').addEventListener('click', toggleAudio);
$('mute-video').addEventListener('click', toggleVideo);
$('hangup').addEventListener('click', hangup);

// Single-key shortcuts, except while typing in a field or in a dialog.
document.addEventListener('keydown', (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.target.closest?.('input, textarea, select, dialog')) return;
  const action = {
    m: toggleAudio, v: toggleVideo, h: hangup,
    f: () => claims.run('verify'), i: () => claims.run('idcard'), b: () => claims.run('bankcard'),
  }[ev.key.toLowerCase()];
  if (action) { ev.preventDefault(); action(); }
});

/* ------------------------------------------------------------------ what the remote area shows */

/**
 * The customer's picture, or a placeholder with their name when there is none to show: before they join, while
 * their camera is off (never a frozen last frame), after they left.
 */
function renderRemote() {
  const name = calls?.active()?.call.customer ?? 'The customer';
  const state = hooks.state;
  const videoOff = $('remote-muted').dataset.video === 'muted';
  const hasVideo = !!document.querySelector('#remote video');
  let why = '';
  if (state === 'waiting') why = `Waiting for ${name} to join…`;
  else if (state === 'peer-left') why = `${name} left the call`;
  else if ((state === 'in-call' || state === 'reconnecting') && videoOff) why = 'Camera off';
  else if (state === 'in-call' && !hasVideo) why = 'Connecting video…';
  const box = $('remote-placeholder');
  box.hidden = !why;
  $('placeholder-initial').textContent = name.trim().charAt(0).toUpperCase();
  $('placeholder-name').textContent = state === 'waiting' || state === 'peer-left' ? '' : name;
  $('placeholder-text').textContent = why;
  document.body.dataset.remoteVideo = why ? 'hidden' : 'shown';
  hooks.placeholder = why;

  // The lobby (sign-in, incoming calls) covers the video area whenever no call is under way.
  const inCall = direct ? !['idle'].includes(state) : !!calls?.active();
  document.body.dataset.call = inCall ? 'active' : 'none';
  $('lobby').hidden = direct || inCall;
}
new MutationObserver(renderRemote).observe($('remote-muted'), { attributes: true });
new MutationObserver(renderRemote).observe($('remote'), { childList: true, subtree: true });
new MutationObserver(() => {
  renderRemote();
  // A call that failed (lost connection, refused join): say why, and offer the way back in.
  if (hooks.state === 'error' && call && (direct || calls?.active())) {
    const text = $('status').textContent.replace(/^Error: /, '');
    notice(text, { label: direct ? 'Join again' : 'Rejoin the call', run: () => (direct ? (leave(), joinDirect()) : calls.rejoin()) });
  }
}).observe(document.body, { attributes: true, attributeFilter: ['data-state'] });

/* ------------------------------------------------------------------ the fixed control bar */

// On a phone the control bar is fixed at the bottom: the page keeps that much room below its content, and
// scrolling something into view (a claim result) stops above the bar.
new ResizeObserver(([entry]) => {
  document.documentElement.style.setProperty('--controls-h', `${Math.ceil(entry.borderBoxSize?.[0]?.blockSize ?? entry.target.offsetHeight)}px`);
}).observe(document.querySelector('.controls'));

/* ------------------------------------------------------------------ start */

if (direct) {
  $('answer-form').hidden = false;
  $('room').value = params.get('room') ?? '';
  $('answer-form').addEventListener('submit', (ev) => { ev.preventDefault(); joinDirect(); });
  if (params.get('autoanswer') === '1') joinDirect();
  else $('room').focus();
} else {
  const desk = initAgentDesk({
    hooks, logLine, clientLog,
    onAnswer: (c, resume) => calls.answer(c, resume),
    onPresence: (state) => calls?.presence(state),
    inCall: () => !!calls?.active(),
  });
  calls = initCallDesk({ desk, clientLog, logLine, notice, join, leave, onChange: () => { renderRemote(); claims.refresh(); desk.render(); } });
  initCallLinks({ logLine });
}
renderRemote();
