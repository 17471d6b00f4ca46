// The customer's page on a room link (/call?room=R&uid=U[&token=T]): joins the room at once (autojoin=0: after
// "Join call"), as the demo and the older browser tests use it. Without a token in the URL a dev-mode server mints
// one. Parameters: codec (vp8, h264), profile (an Agora video profile), autoaudioonly=1 (turn the camera off when
// the server's tip suggests voice).
import { VERSION, createLogger } from '/sdk/stoa.js';
import { hooks } from './page.js';
import { go, showNotice, wireControls, resetToggles, markToggle, IN_ROOM, useLogger } from './customer-ui.js';
import { joinRoom } from './customer-room.js';
import { explain } from './customer-errors.js';

const $ = (id) => document.getElementById(id);

const devMode = () => fetch('/api/info').then((r) => (r.ok ? r.json() : {})).then((i) => !!i.devMode, () => false);

/** A customer token for room and uid from a dev-mode server (which needs no key from loopback). */
async function mint(room, uid) {
  const res = await fetch('/api/token', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ room, uid: String(uid), role: 'host', tag: 'customer' }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(body.message || `token request failed (${res.status})`), { code: body.code ?? 'unauthorized' });
  return body.token;
}

/** A random all-digit uid, like the numeric uids Agora apps use. */
const randomUid = () => String(100000 + Math.floor(Math.random() * 900000));

/** @param {{params: URLSearchParams}} o */
export function startDirect({ params }) {
  const room = params.get('room') ?? '';
  // With a token and no uid the token's uid is taken (a uid given must match the token's).
  const uid = params.get('uid') || (params.get('token') ? '' : randomUid());
  /** @type {ReturnType<typeof joinRoom>|null} */
  let call = null;
  let logger = null;
  let audioOnlyNotice = false; // the notice shows autoAudioOnly's "camera off"

  async function token() {
    if (params.get('token')) return { token: params.get('token'), renew: async () => null };
    if (!(await devMode())) throw Object.assign(new Error('no token'), { code: 'token_invalid' });
    return { token: await mint(room, uid), renew: async (r = room, u = uid) => ((await devMode()) ? mint(r, u) : null) };
  }

  async function join() {
    if (IN_ROOM.includes(hooks.state)) return;
    showNotice('');
    audioOnlyNotice = false;
    resetToggles();
    go('connecting', { title: 'Connecting…' });
    let t;
    try {
      t = await token();
    } catch (err) {
      fail(err);
      return;
    }
    if (!logger) {
      logger = createLogger({ token: t.token, fields: { staff: '', room, version: VERSION } });
      useLogger(logger);
      logger.info('page', { mode: 'room', room, uid });
    }
    call = joinRoom({
      token: t.token, room, uid, renew: t.renew, codec: params.get('codec') ?? undefined, profile: params.get('profile') ?? undefined,
      autoAudioOnly: params.get('autoaudioonly') === '1', agentName: 'The agent', logger, onNotice: showNotice,
      onState(what, info) {
        if (what === 'in-call') go('in-call', { title: info?.agentHere ? 'In call' : 'Waiting for the agent…' });
        else if (what === 'peer-left') go('peer-left', { title: 'The agent left the call' });
        else if (what === 'reconnecting') go('reconnecting', { title: 'Reconnecting…', detail: 'Your connection dropped. Please stay on this page.' });
        else fail(info?.code ?? 'session_not_found');
      },
    });
    // autoAudioOnly turned the camera off on a "switch to voice" tip: say so, and offer it back.
    call.client.on('audio-only', () => {
      markToggle($('mute-video'), true, 'Camera on', 'Camera off');
      audioOnlyNotice = true;
      showNotice('Your camera is off to keep the call going on a poor network.', { label: 'Camera on', run: toggleVideo });
    });
  }

  function fail(err) {
    const e = explain(err);
    call?.leave();
    call = null;
    go('error', { title: e.title, detail: e.text, code: e.code, ...(e.way !== 'none' && { retry: { label: e.label, run: join } }) });
  }

  function toggleVideo() {
    markToggle($('mute-video'), call?.toggleVideo() ?? null, 'Camera on', 'Camera off');
    if (audioOnlyNotice && !hooks.localStream?.muted.video) { audioOnlyNotice = false; showNotice(''); }
  }

  wireControls({
    join,
    toggleAudio: () => call?.toggleAudio() ?? null,
    toggleVideo: () => { toggleVideo(); return null; },
    hangup() {
      if (!call) return;
      call.leave();
      call = null;
      showNotice('');
      go('ended', { title: 'Call ended', detail: 'Tap Join call to call again.', reason: 'hangup' });
    },
  });

  if (params.get('autojoin') !== '0') join();
  else go('idle', { title: 'Ready', detail: 'Tap Join call when you are ready.' });
}
