// What /call and /console share: tokens, the call itself on the Agora-shaped SDK face (as the customer's
// app uses it), visible state, and the test hooks on window.__stoa.
import AgoraRTC from '/sdk/stoa.js';

/**
 * Test hooks, read by the browser tests.
 * state: 'idle' | 'connecting' | 'waiting' | 'in-call' | 'reconnecting' | 'peer-left' | 'ended' | 'error'
 *   ('waiting': joined, nobody else in the room yet; only with startCall's waitForPeer)
 * events: every SDK event the page received, as {name, uid, t} (t = Date.now())
 * metrics.joinToFirstFrameMs: from the join call to the remote video's first rendered frame
 */
export const hooks = (window.__stoa = { state: 'idle', events: [], metrics: {}, client: null, localStream: null, remoteStreams: {} });

export const params = new URLSearchParams(location.search);

const STATE_TEXT = {
  idle: 'Ready', connecting: 'Connecting…', waiting: 'Waiting for the other side…', 'in-call': 'In call',
  reconnecting: 'Reconnecting…', 'peer-left': 'The other side left', ended: 'Call ended', error: 'Error',
};

/** Lets a page word the states its own way, e.g. {waiting: 'Waiting for the customer…'}. */
export function setStateTexts(texts) {
  Object.assign(STATE_TEXT, texts);
}

/** @param {string} state @param {string} [detail] shown after the state, e.g. an error message */
export function setState(state, detail = '') {
  hooks.state = state;
  document.body.dataset.state = state;
  const el = document.getElementById('status');
  if (el) el.textContent = STATE_TEXT[state] + (detail ? `: ${detail}` : '');
}

/** A random all-digit uid, like the numeric uids Agora apps use. */
export function randomUid() {
  return String(100000 + Math.floor(Math.random() * 900000));
}

const devMode = () => fetch('/api/info').then((r) => (r.ok ? r.json() : {})).then((i) => !!i.devMode, () => false);

/** Mints a token from the dev-mode server (which needs no API key from loopback); can lists its grants. */
async function mint(room, uid, tag, can) {
  const res = await fetch('/api/token', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ room, uid: String(uid), role: 'host', tag, ...(can?.length ? { can } : {}) }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.message || `token request failed (${res.status})`);
  return body.token;
}

/**
 * The token from the URL or, when the server is in dev mode, one minted for {room, uid, tag} with the grants
 * in can (the agent's console asks for ['claim_tools'], the customer's page for none).
 * Returns {token, renew}: renew(room, uid) mints a fresh token in dev mode, else resolves null.
 */
export async function getToken({ token, room, uid, tag, can }) {
  const renew = async (r = room, u = uid) => ((await devMode()) ? mint(r, u, tag, can) : null);
  if (token) return { token, renew };
  if (!(await devMode())) throw new Error('no token in the URL, and the server is not in dev mode');
  return { token: await mint(room, uid, tag, can), renew };
}

/** Every client event the pages record in hooks.events. */
const EVENTS = [
  'stream-added', 'stream-subscribed', 'stream-removed', 'stream-published', 'stream-unpublished', 'stream-updated',
  'peer-online', 'peer-leave', 'mute-audio', 'unmute-audio', 'mute-video', 'unmute-video',
  'token-privilege-will-expire', 'token-privilege-did-expire', 'connection-state-change', 'client-role-changed',
  'reconnect', 'rejoin', 'error', 'recording-started', 'recording-stopped', 'recording-failed', 'network-tip', 'audio-only',
];

/** Shows or hides the recording indicator both sides see (an element with id "rec", made if the page has none). */
function renderRecording(on, failed) {
  let el = document.getElementById('rec');
  if (!el) {
    el = document.createElement('p');
    el.id = 'rec';
    el.className = 'rec';
    el.setAttribute('role', 'status');
    (document.getElementById('notice')?.parentElement ?? document.body).prepend(el);
  }
  hooks.recording = on;
  el.hidden = !on && !failed;
  el.classList.toggle('failed', Boolean(failed));
  el.textContent = failed ? 'Recording stopped: it could not be saved' : '● Recording';
}

/** Sets metrics.joinToFirstFrameMs when the video shows its first frame (once per page). */
export function measureFirstFrame(video, t0) {
  const done = () => {
    if (hooks.metrics.joinToFirstFrameMs == null) hooks.metrics.joinToFirstFrameMs = Math.round(performance.now() - t0);
  };
  if (typeof video.requestVideoFrameCallback === 'function') {
    video.requestVideoFrameCallback(done);
    // A video the browser does not composite (hidden tab) never calls back: fall back to loadeddata then.
    video.addEventListener('loadeddata', () => setTimeout(done, 1000), { once: true });
  } else {
    video.addEventListener('loadeddata', done, { once: true });
  }
}

/** Keeps #remote-muted (text and data-audio / data-video) in step with the remote side's mute events. */
function renderRemoteMuted(m) {
  const el = document.getElementById('remote-muted');
  if (!el) return;
  el.dataset.audio = m.audio ? 'muted' : 'on';
  el.dataset.video = m.video ? 'muted' : 'on';
  el.textContent = [m.audio && 'mic off', m.video && 'camera off'].filter(Boolean).join(', ');
}

/**
 * Starts a call the way the customer's app does (createClient → init → join → createStream → init → publish →
 * play; subscribe on stream-added, play on stream-subscribed). Returns controls for the buttons.
 * waitForPeer: after joining, the state is 'waiting' until someone else is in the room ('in-call' then), so a
 * page never says "In call" to an empty room. explain turns an error code (token_invalid, NotAllowedError,
 * connection_lost…) into the sentence to show; by default the code itself is shown.
 * When the connection is lost for good the camera is released: the self-view stops with it.
 * @param {{room: string, uid: string, token: string, renew: (room: string, uid: string) => Promise<string|null>, codec?: string,
 *   profile?: string, fit?: 'cover'|'contain', autoAudioOnly?: boolean, onEvent?: (name: string, evt: any) => void,
 *   onNotice?: (text: string, action?: {label: string, run: () => void}) => void, waitForPeer?: boolean,
 *   explain?: (code: string) => string}} o
 */
export function startCall(o) {
  const notice = o.onNotice ?? (() => {});
  const explain = o.explain ?? ((code) => (code === 'connection_lost' ? 'connection lost' : String(code)));
  const uid = /^\d+$/.test(o.uid) ? Number(o.uid) : o.uid;
  const client = AgoraRTC.createClient({ mode: 'rtc', codec: o.codec === 'h264' ? 'h264' : 'vp8', autoAudioOnly: !!o.autoAudioOnly });
  const remoteMuted = { audio: false, video: false };
  let localStream = null;
  let joined = false;
  let ended = false;
  let peerLeft = false;
  let lost = false; // the connection was lost for good: the camera is released
  let t0 = 0; // when join was called
  hooks.client = client;
  /** The state of a joined call: peer-left, waiting (nobody there yet, with waitForPeer) or in-call. */
  const present = () => {
    if (peerLeft) return 'peer-left';
    const someone = (client.room?.participants?.size ?? 0) > 0 || Object.keys(hooks.remoteStreams).length > 0;
    return o.waitForPeer && !someone ? 'waiting' : 'in-call';
  };
  hooks.remoteStreams = {};
  renderRemoteMuted(remoteMuted);

  for (const name of EVENTS) {
    client.on(name, (evt) => {
      hooks.events.push({ name, uid: evt?.uid ?? evt?.stream?.getId?.() ?? null, t: Date.now() });
      o.onEvent?.(name, evt);
    });
  }
  client.on('recording-started', () => renderRecording(true));
  client.on('recording-stopped', () => renderRecording(false));
  client.on('recording-failed', () => renderRecording(false, true));
  client.on('stream-added', ({ stream }) => {
    client.subscribe(stream, (err) => notice(`Could not receive the other side's video (${explain(err)})`));
  });
  client.on('stream-subscribed', ({ stream }) => {
    for (const s of Object.values(hooks.remoteStreams)) if (s !== stream) s.stop();
    hooks.remoteStreams = { [stream.getId()]: stream };
    stream.play('remote', { fit: o.fit ?? 'contain' }, (err) => {
      if (err && err.status !== 'aborted') notice('The browser blocked the sound.', { label: 'Play sound', run: () => stream.resume().then(() => notice('')) });
    });
    const video = document.querySelector('#remote video');
    if (video) {
      document.getElementById('remote-video')?.removeAttribute('id');
      video.id = 'remote-video';
      measureFirstFrame(video, t0);
    }
    peerLeft = false;
    setState('in-call');
  });
  client.on('stream-removed', ({ stream }) => {
    stream.stop();
    delete hooks.remoteStreams[stream.getId()];
    Object.assign(remoteMuted, { audio: false, video: false });
    renderRemoteMuted(remoteMuted);
  });
  client.on('peer-online', () => {
    if (!o.waitForPeer || ended || !joined) return;
    peerLeft = false;
    setState('in-call');
  });
  client.on('peer-leave', () => {
    peerLeft = true;
    Object.assign(remoteMuted, { audio: false, video: false });
    renderRemoteMuted(remoteMuted);
    if (!ended) setState('peer-left');
  });
  for (const kind of ['audio', 'video']) {
    client.on(`mute-${kind}`, () => { remoteMuted[kind] = true; renderRemoteMuted(remoteMuted); });
    client.on(`unmute-${kind}`, () => { remoteMuted[kind] = false; renderRemoteMuted(remoteMuted); });
  }
  client.on('connection-state-change', ({ prevState, curState }) => {
    if (ended || !joined) return;
    if (curState === 'CONNECTING' && prevState === 'CONNECTED') setState('reconnecting');
    else if (curState === 'CONNECTED') setState(present());
    else if (curState === 'DISCONNECTED') {
      // The session is over: stop showing the other side, and release the camera and microphone.
      lost = true;
      for (const stream of Object.values(hooks.remoteStreams)) stream.stop();
      localStream?.stop();
      localStream?.close();
      setState('error', explain('connection_lost'));
    }
  });
  client.on('token-privilege-will-expire', () => {
    o.renew(client.room?.roomName, client.room?.uid).then((t) => t && client.renewToken(t)).catch((e) => notice(`Could not renew the token: ${e.message}`));
  });

  setState('connecting');
  client.init('stoa', () => {
    if (ended) return;
    t0 = performance.now();
    client.join(o.token, o.room, uid, (myUid) => {
      joined = true;
      if (ended) return;
      setState(present());
      localStream = AgoraRTC.createStream({ streamID: myUid, audio: true, video: true, screen: false });
      hooks.localStream = localStream;
      localStream.setVideoProfile(o.profile ?? '480p_1');
      localStream.init(() => {
        if (ended || lost) { localStream.close(); return; }
        client.publish(localStream, (err) => notice(`Could not send your video (${err})`));
        localStream.play('local', { fit: 'cover', muted: true });
        const video = document.querySelector('#local video');
        if (video) video.id = 'local-video';
      }, (err) => notice(o.explain ? `${explain(err.msg)} Until then the other side cannot see or hear you.`
        : `Camera or microphone unavailable (${err.msg}). The other side cannot see or hear you.`));
    }, (err) => { if (!ended) setState('error', o.explain ? explain(err) : `could not join (${err})`); });
  }, (err) => setState('error', o.explain ? explain(err) : `this browser cannot make calls (${err})`));

  return {
    client,
    /** @returns {boolean|null} whether the mic is now muted (null: no local stream) */
    toggleAudio() {
      if (!localStream) return null;
      if (localStream.muted.audio) localStream.unmuteAudio(); else localStream.muteAudio();
      return localStream.muted.audio;
    },
    toggleVideo() {
      if (!localStream) return null;
      if (localStream.muted.video) localStream.unmuteVideo(); else localStream.muteVideo();
      return localStream.muted.video;
    },
    hangup() {
      if (ended) return;
      ended = true;
      client.leave(() => {}, () => {});
      localStream?.stop();
      localStream?.close();
      for (const s of Object.values(hooks.remoteStreams)) s.stop();
      setState('ended');
    },
  };
}

/** Mirrors a toggle's state on its button (aria-pressed and label). */
export function markToggle(button, pressed, onLabel, offLabel) {
  if (pressed == null) return;
  button.setAttribute('aria-pressed', String(pressed));
  button.querySelector('.label').textContent = pressed ? onLabel : offLabel;
}

/** Shows (or with '' hides) the page's #notice message, optionally with one action button. */
export function showNotice(text, action) {
  const box = document.getElementById('notice');
  box.hidden = !text;
  box.querySelector('.text').textContent = text;
  const button = box.querySelector('.action');
  button.hidden = !action;
  if (action) {
    button.textContent = action.label;
    button.onclick = action.run;
  }
}
