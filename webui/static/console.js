// The agent's console (/console): answer a room, see and hear the customer, follow the call's events, and run the
// claim tools (face check, ID and bank card reading) on the customer's video.
import { hooks, params, setState, randomUid, getToken, startCall, markToggle, showNotice } from './page.js';
import { initClaimTools } from './claim.js';
import { watchAgentNetwork } from './quality.js';

const $ = (id) => document.getElementById(id);
const MAX_LOG = 300;
let call = null;
/** The current call's room and the agent's token (kept fresh across renewals): the claim tools call the API with them. */
let session = null;

/** Appends a line to the event log panel. */
function logLine(name, detail = '') {
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

async function answer() {
  if (!['idle', 'ended', 'error'].includes(hooks.state)) return;
  const room = $('room').value.trim() || params.get('room') || 'demo';
  const uid = params.get('uid') || randomUid();
  notice('');
  markToggle($('mute-audio'), false, 'Unmute', 'Mute');
  markToggle($('mute-video'), false, 'Camera on', 'Camera off');
  setState('connecting');
  logLine('answer', `room ${room} as uid ${uid}`);
  try {
    const { token, renew } = await getToken({ token: params.get('token'), room, uid, tag: 'agent', can: ['claim_tools'] });
    const s = (session = { room, token });
    const renewAndKeep = async (r, u) => {
      const fresh = await renew(r, u);
      if (fresh) s.token = fresh;
      return fresh;
    };
    call = startCall({
      room, uid, token, renew: renewAndKeep, codec: params.get('codec') ?? undefined, profile: params.get('profile') ?? undefined,
      onNotice: notice,
      onEvent: (name, evt) => {
        logLine(name, describe(name, evt));
        setTimeout(claims.refresh); // after page.js has updated hooks.remoteStreams for this event
      },
    });
    watchAgentNetwork(call.client);
  } catch (err) {
    setState('error', err.message);
    logLine('error', err.message);
  }
}

function toggleAudio() { markToggle($('mute-audio'), call?.toggleAudio(), 'Unmute', 'Mute'); }
function toggleVideo() { markToggle($('mute-video'), call?.toggleVideo(), 'Camera on', 'Camera off'); }
function hangup() {
  if (!call || hooks.state === 'ended') return;
  call.hangup();
  logLine('hangup');
  $('room').focus();
}

const claims = initClaimTools({ getRoom: () => session?.room ?? null, getToken: () => session?.token ?? null, logLine });

$('room').value = params.get('room') ?? '';
$('answer-form').addEventListener('submit', (ev) => { ev.preventDefault(); answer(); });
$('mute-audio').addEventListener('click', toggleAudio);
$('mute-video').addEventListener('click', toggleVideo);
$('hangup').addEventListener('click', hangup);

// Single-key shortcuts, except while typing in a field.
document.addEventListener('keydown', (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.target.closest?.('input, textarea, select')) return;
  const action = {
    m: toggleAudio, v: toggleVideo, h: hangup,
    f: () => claims.run('verify'), i: () => claims.run('idcard'), b: () => claims.run('bankcard'),
  }[ev.key.toLowerCase()];
  if (action) { ev.preventDefault(); action(); }
});

if (params.get('room') && params.get('autoanswer') === '1') answer();
else $('room').focus();
