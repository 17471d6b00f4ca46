// The customer in the call's room, on the SDK's Agora-shaped face as the customer's own app uses it
// (createClient → init → join → publish → play; subscribe on stream-added, play on stream-subscribed): the agent
// large and whole (fit contain), a placeholder with the agent's name instead of a frozen frame when its camera is
// off, the self-view small, the recording indicator, the network meter, and what the connection does (reconnecting,
// lost for good). It reports to the flow through onState; the flow decides what the page says.
import AgoraRTC from '/sdk/stoa.js';
import { hooks, measureFirstFrame } from './page.js';
import { watchCustomerNetwork } from './quality.js';
import { capture, playLocal, release } from './customer-media.js';
import { explain } from './customer-errors.js';

/** Every client event the page records in hooks.events, as {name, uid, t}. */
const EVENTS = [
  'stream-added', 'stream-subscribed', 'stream-removed', 'stream-published', 'stream-unpublished', 'stream-updated',
  'peer-online', 'peer-leave', 'mute-audio', 'unmute-audio', 'mute-video', 'unmute-video',
  'token-privilege-will-expire', 'token-privilege-did-expire', 'connection-state-change', 'client-role-changed',
  'reconnect', 'rejoin', 'error', 'recording-started', 'recording-stopped', 'recording-failed', 'network-tip', 'audio-only',
];

const $ = (id) => document.getElementById(id);

/**
 * What the room tells the flow:
 * - 'in-call' {agentHere}: joined (agentHere: somebody else is in the room)
 * - 'peer-left': the other side left
 * - 'reconnecting': the socket dropped, the SDK is resuming; 'in-call' again when it is back
 * - 'lost' {code}: the connection is gone for good (media already released)
 * - 'failed' {code}: could not join (media already released)
 * @typedef {(what: 'in-call'|'peer-left'|'reconnecting'|'lost'|'failed', info?: {agentHere?: boolean, code?: string}) => void} OnState
 * @typedef {object} JoinOptions
 * @property {string} token @property {string} room @property {string} uid
 * @property {any} [stream] a captured local Stream to publish (the pre-join preview); else one is captured after join
 * @property {string} [codec] @property {string} [profile] @property {boolean} [autoAudioOnly]
 * @property {string} [agentName] what the placeholder calls the other side
 * @property {(room: string, uid: string) => Promise<string|null>} [renew] a fresh token before this one expires
 * @property {OnState} onState
 * @property {(text: string, action?: {label: string, run: () => void}) => void} onNotice
 * @property {any} [logger] the page's client logger
 */

/** Joins the room and publishes; returns the controls. @param {JoinOptions} o */
export function joinRoom(o) {
  const log = o.logger ?? { info() {}, warn() {}, error() {}, debug() {} };
  const uid = /^\d+$/.test(o.uid) ? Number(o.uid) : o.uid;
  const client = AgoraRTC.createClient({ mode: 'rtc', codec: o.codec === 'h264' ? 'h264' : 'vp8', autoAudioOnly: !!o.autoAudioOnly });
  const others = new Set(); // uids in the room besides us
  const remoteMuted = { audio: false, video: false };
  let local = o.stream ?? null;
  let joined = false;
  let ended = false;
  let lastError = '';
  let t0 = 0;
  hooks.client = client;
  hooks.remoteStreams = {};
  renderRemoteMuted(remoteMuted);
  renderPlaceholder();

  for (const name of EVENTS) {
    client.on(name, (evt) => hooks.events.push({ name, uid: evt?.uid ?? evt?.stream?.getId?.() ?? null, t: Date.now() }));
  }
  watchCustomerNetwork(client);
  client.on('recording-started', () => renderRecording(true));
  client.on('recording-stopped', () => renderRecording(false));
  client.on('recording-failed', () => renderRecording(false, true));
  client.on('error', (e) => { lastError = e?.reason ?? lastError; log.warn('sdk-error', { code: e?.reason, message: e?.message }); });
  client.on('peer-online', ({ uid: who }) => {
    others.add(String(who));
    log.info('peer-online', { uid: who });
    renderPlaceholder();
    inCall();
  });
  client.on('peer-leave', ({ uid: who, reason }) => {
    others.delete(String(who));
    Object.assign(remoteMuted, { audio: false, video: false });
    renderRemoteMuted(remoteMuted);
    log.info('peer-leave', { uid: who, reason });
    renderPlaceholder('left');
    if (!ended && !others.size) o.onState('peer-left');
  });
  client.on('stream-added', ({ stream }) => {
    others.add(String(stream.getId()));
    client.subscribe(stream, (err) => o.onNotice(`We could not receive the agent's video. ${explain(err).text}`));
  });
  client.on('stream-subscribed', ({ stream }) => {
    for (const s of Object.values(hooks.remoteStreams)) if (s !== stream) s.stop();
    hooks.remoteStreams = { [stream.getId()]: stream };
    stream.play('remote', { fit: 'contain' }, (err) => {
      if (err && err.status !== 'aborted') o.onNotice('Your browser blocked the sound.', { label: 'Play sound', run: () => stream.resume().then(() => o.onNotice('')) });
    });
    const video = document.querySelector('#remote video');
    if (video) {
      $('remote-video')?.removeAttribute('id');
      video.id = 'remote-video';
      measureFirstFrame(video, t0);
    }
    renderPlaceholder();
    log.info('remote-stream', { uid: stream.getId() });
    inCall();
  });
  client.on('stream-removed', ({ stream }) => {
    stream.stop();
    delete hooks.remoteStreams[stream.getId()];
    Object.assign(remoteMuted, { audio: false, video: false });
    renderRemoteMuted(remoteMuted);
    renderPlaceholder();
  });
  for (const kind of ['audio', 'video']) {
    client.on(`mute-${kind}`, () => { remoteMuted[kind] = true; renderRemoteMuted(remoteMuted); renderPlaceholder(); });
    client.on(`unmute-${kind}`, () => { remoteMuted[kind] = false; renderRemoteMuted(remoteMuted); renderPlaceholder(); });
  }
  client.on('connection-state-change', ({ prevState, curState }) => {
    if (ended || !joined) return;
    if (curState === 'CONNECTING' && prevState === 'CONNECTED') {
      log.warn('reconnecting', {});
      o.onState('reconnecting');
    } else if (curState === 'CONNECTED') {
      log.info('reconnected', {});
      if (others.size) inCall(); else o.onState('in-call', { agentHere: false });
    } else if (curState === 'DISCONNECTED') {
      stop();
      const code = lastError || 'session_not_found';
      log.error('connection-lost', { code });
      o.onState('lost', { code });
    }
  });
  client.on('token-privilege-will-expire', () => {
    o.renew?.(client.room?.roomName, client.room?.uid).then((t) => t && client.renewToken(t))
      .catch((e) => log.warn('renew', { message: e.message }));
  });

  function inCall() {
    if (!ended && joined) o.onState('in-call', { agentHere: others.size > 0 });
  }

  /** What #remote-placeholder says: the agent's name, and why there is no picture. */
  function renderPlaceholder(left) {
    const el = $('remote-placeholder');
    const playing = Object.values(hooks.remoteStreams).some((s) => s.hasVideo());
    const show = !ended && (!playing || remoteMuted.video);
    el.hidden = !show;
    $('remote').dataset.video = playing && !remoteMuted.video ? 'on' : 'off';
    if (!show) return;
    const name = o.agentName || 'The agent';
    el.querySelector('.avatar').textContent = (name.match(/\p{L}/u)?.[0] ?? '?').toUpperCase();
    el.querySelector('.who').textContent = name;
    let why = 'is joining…';
    if (left === 'left' && !others.size) why = 'left the call';
    else if (remoteMuted.video) why = 'turned the camera off';
    else if (others.size) why = 'has no video yet';
    el.querySelector('.why').textContent = why;
    el.dataset.why = why;
  }

  /** Leaves nothing running: the session, the remote players, our camera. */
  function stop() {
    ended = true;
    for (const s of Object.values(hooks.remoteStreams)) s.stop();
    hooks.remoteStreams = {};
    release();
    $('remote-placeholder').hidden = true;
    renderRecording(false);
  }

  function publish() {
    client.publish(local, (err) => {
      log.error('publish', { code: err });
      o.onNotice('We could not send your video to the agent. If they cannot see you, hang up and call again.');
    });
    playLocal(local);
  }

  client.init('stoa', () => {
    if (ended) return;
    t0 = performance.now();
    log.info('join', { room: o.room, uid: o.uid });
    client.join(o.token, o.room, uid, (myUid) => {
      joined = true;
      if (ended) return;
      log.info('joined', { uid: myUid });
      inCall();
      if (local) { publish(); return; }
      capture({ streamID: myUid, profile: o.profile }).then((s) => {
        local = s;
        if (ended) { release(); return; }
        publish();
      }, (err) => {
        const e = explain(err);
        log.error('getUserMedia', { name: e.code });
        o.onNotice(`${e.title}. The agent cannot see or hear you. ${e.text}`);
      });
    }, (err) => {
      if (ended) return;
      stop();
      log.error('join-failed', { code: err });
      o.onState('failed', { code: String(err) });
    });
  }, (err) => { stop(); o.onState('failed', { code: String(err) }); });

  return {
    client,
    /** @returns {boolean|null} whether the mic is now muted (null: no local stream) */
    toggleAudio() {
      if (!local?.mediaStream) return null;
      if (local.muted.audio) local.unmuteAudio(); else local.muteAudio();
      log.info('mute-audio', { muted: local.muted.audio });
      return local.muted.audio;
    },
    toggleVideo() {
      if (!local?.mediaStream) return null;
      if (local.muted.video) local.unmuteVideo(); else local.muteVideo();
      log.info('mute-video', { muted: local.muted.video });
      return local.muted.video;
    },
    /** Leaves the room and releases the camera; the flow says what the page shows next. */
    leave() {
      if (ended) return;
      stop();
      client.leave(() => {}, () => {});
      log.info('left', {});
    },
    get ended() { return ended; },
  };
}

/** Keeps #remote-muted (text and data-audio / data-video) in step with the remote side's mute events. */
function renderRemoteMuted(m) {
  const el = $('remote-muted');
  el.dataset.audio = m.audio ? 'muted' : 'on';
  el.dataset.video = m.video ? 'muted' : 'on';
  el.textContent = m.audio ? 'The agent\'s microphone is off' : '';
}

/** Shows or hides "● Recording" (#rec); window.__stoa.recording says which. */
function renderRecording(on, failed) {
  const el = $('rec');
  hooks.recording = on;
  el.hidden = !on && !failed;
  el.classList.toggle('failed', Boolean(failed));
  el.textContent = failed ? 'Recording stopped' : '● Recording';
}
