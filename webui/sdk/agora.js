/**
 * The Agora Web SDK 2.x/3.x-shaped face on the core's Room: `Client` (createClient) translates Room's events
 * and promises into Agora's events and callbacks, and publishes and subscribes the Agora-shaped `Stream`s of
 * stream.js; plus the module functions `createStream`, `checkSystemRequirements` and `getDevices`. Agora code runs
 * on it after swapping `import AgoraRTC from 'agora-rtc-sdk'` for stoa.js.
 */

import { log } from './log.js';
import { Emitter, Room } from './core.js';
import { Stream, publishedOn, later, agoraUid } from './stream.js';

export { Stream };

/**
 * @typedef {import('./core.js').StreamInfo} StreamInfo
 * @typedef {import('./stream.js').StreamSpec} StreamSpec
 */

/* ------------------------------------------------------------------ Agora face: Client */

/**
 * @typedef {object} ClientConfig
 * @property {'rtc'|'live'} [mode] @property {'vp8'|'h264'} [codec] @property {string} [server]
 * @property {boolean} [autoAudioOnly] when the server's network tip about this client says "suggest switching to
 *   voice", mute the published video and emit `audio-only` (default false)
 * @typedef {{uplinkNetworkQuality: number, downlinkNetworkQuality: number}} NetworkQuality Agora's 0–6 levels
 */

/** @param {import('./quality.js').Levels} q @returns {NetworkQuality} */
const agoraQuality = (q) => ({ uplinkNetworkQuality: q.uplink, downlinkNetworkQuality: q.downlink });

/** Agora's connection states for the Room's. */
const CONNECTION_STATES = {
  new: 'DISCONNECTED', connecting: 'CONNECTING', joined: 'CONNECTED', reconnecting: 'CONNECTING',
  leaving: 'DISCONNECTING', left: 'DISCONNECTED', failed: 'DISCONNECTED',
};
/** Agora's peer-leave reasons for the protocol's. */
const LEAVE_REASONS = { quit: 'Quit', timeout: 'ServerTimeOut', kicked: 'Kicked' };

/**
 * An Agora-shaped client (createClient). Events: stream-added, stream-subscribed, stream-removed,
 * stream-published, stream-unpublished, stream-updated, peer-online, peer-leave, mute-audio, unmute-audio,
 * mute-video, unmute-video, token-privilege-will-expire (also as onTokenPrivilegeWillExpire),
 * token-privilege-did-expire (onTokenPrivilegeDidExpire), connection-state-change, client-role-changed,
 * reconnect, rejoin, error; network-quality {uplinkNetworkQuality, downlinkNetworkQuality} every 2 s, and Stoa's
 * network-tip {uid, tag, tip, message, lostRate, continueLostCount} and audio-only {uid, tip, message} (autoAudioOnly).
 */
export class Client extends Emitter {
  /** @type {Room|null} */ #room = null;
  #state = 'DISCONNECTED';
  #role;
  /** @type {Map<string, Stream>} remote streams by wire uid */
  #remote = new Map();
  /** @type {Map<string, object|undefined>} subscribe() options by wire uid */
  #subOptions = new Map();
  /** @type {Stream|null} */ #local = null;
  /** @type {Array<[string, any]>|null} events held back while join() is in flight, so the join callback comes first */
  #held = null;
  /** enableDualStream() and setLowStreamParameter(): how the next publish() sends video */
  #dual = { on: false, low: /** @type {import('./profiles.js').LowStreamParameter|undefined} */ (undefined) };

  /** @param {ClientConfig} [config] */
  constructor(config = {}) {
    super();
    this.config = { mode: 'rtc', codec: 'vp8', ...config };
    this.#role = this.config.mode === 'live' ? 'audience' : 'host';
  }

  /** The core session (promise API) under this client, for diagnostics. */
  get room() { return this.#room; }

  /** Stoa has no app ids: the token says which room. Kept so Agora code runs. */
  init(appId, ok, err) {
    this.appId = appId;
    if (checkSystemRequirements()) later(ok); else later(err, 'BAD_ENVIRONMENT');
  }

  /**
   * Joins with a Stoa token; channel and uid come from the token (they are only checked against it).
   * join(token, channel, uid, [info], ok(uid), err).
   */
  join(token, channel, uid, info, ok, err) {
    if (typeof info === 'function') [ok, err] = [info, ok];
    if (this.#room) { later(err, 'INVALID_OPERATION'); return; }
    const live = this.config.mode === 'live';
    const room = new Room({
      token, server: this.config.server, mode: this.config.mode, codec: this.config.codec,
      role: live ? this.#role : undefined, autoSubscribe: false,
      room: channel != null && channel !== '' ? String(channel) : undefined,
      uid: uid != null && uid !== 0 && uid !== '' ? String(uid) : undefined,
    });
    this.#room = room;
    this.#wire(room);
    this.#held = [];
    room.join().then((joined) => {
      if (channel != null && String(channel) !== joined.room) log.warn(`joined room "${joined.room}", not "${channel}": the token decides`);
      if (uid != null && uid !== 0 && String(uid) !== joined.uid) log.warn(`joined as uid ${joined.uid}, not ${uid}: the token decides`);
      const held = this.#held ?? [];
      this.#held = null;
      try { ok?.(agoraUid(joined.uid)); } catch (e) { log.error('join callback threw', e); }
      for (const [name, payload] of held) this.emit(name, payload);
    }, (e) => {
      this.#held = null;
      this.#room = null;
      later(err, e.code ?? String(e));
    });
  }

  #fire(name, payload = {}) {
    if (this.#held) this.#held.push([name, payload]); else this.emit(name, payload);
  }

  /** Translates the core's events into Agora's. */
  #wire(room) {
    const live = () => this.config.mode === 'live';
    room.on('state', ({ state }) => {
      if (state === 'failed' && this.#room === room) this.#forget(); // the session is over: join() may run again
      const prevState = this.#state;
      const curState = CONNECTION_STATES[state];
      if (prevState === curState) return;
      this.#state = curState;
      this.emit('connection-state-change', { prevState, curState });
    });
    room.on('participant-joined', (p) => {
      if (!live() || p.role === 'host') this.#fire('peer-online', { uid: agoraUid(p.uid) });
    });
    room.on('role-changed', ({ uid, role, self }) => {
      if (self) { this.#role = role; this.#fire('client-role-changed', { role }); return; }
      if (!live()) return;
      if (role === 'host') this.#fire('peer-online', { uid: agoraUid(uid) });
      else this.#fire('peer-leave', { uid: agoraUid(uid), reason: 'BecomeAudience' });
    });
    room.on('peer-leave', ({ uid, reason }) => this.#fire('peer-leave', { uid: agoraUid(uid), reason: LEAVE_REASONS[reason] ?? reason }));
    room.on('stream-added', ({ stream: info }) => {
      const s = new Stream({ streamID: agoraUid(info.uid), audio: info.audio, video: info.video }, { room, info });
      this.#remote.set(info.uid, s);
      this.#fire('stream-added', { stream: s });
      if (info.audioMuted) this.#fire('mute-audio', { uid: s.getId() });
      if (info.videoMuted) this.#fire('mute-video', { uid: s.getId() });
    });
    room.on('stream-updated', ({ stream: info, prev }) => {
      const s = this.#remote.get(info.uid);
      if (s) s.info = info;
      const uid = agoraUid(info.uid);
      for (const kind of ['audio', 'video']) {
        const key = `${kind}Muted`;
        if (!!prev?.[key] !== !!info[key]) this.#fire(`${info[key] ? 'mute' : 'unmute'}-${kind}`, { uid });
      }
      if (s && prev && (prev.audio !== info.audio || prev.video !== info.video)) this.#fire('stream-updated', { stream: s });
    });
    room.on('stream-removed', ({ uid }) => {
      const s = this.#remote.get(uid);
      this.#remote.delete(uid);
      this.#subOptions.delete(uid);
      if (s) this.#fire('stream-removed', { stream: s });
    });
    room.on('track', ({ uid, stream }) => this.#remote.get(uid)?.attachMedia(stream, this.#subOptions.get(uid)));
    room.on('subscribed', ({ uid, stream }) => {
      const s = this.#remote.get(uid);
      if (!s) return;
      s.attachMedia(stream, this.#subOptions.get(uid));
      this.#fire('stream-subscribed', { stream: s });
    });
    room.on('token-will-expire', () => {
      this.#fire('token-privilege-will-expire');
      this.#fire('onTokenPrivilegeWillExpire');
    });
    room.on('token-expired', () => {
      this.#fire('token-privilege-did-expire');
      this.#fire('onTokenPrivilegeDidExpire');
    });
    for (const name of ['recording-started', 'recording-stopped', 'recording-failed']) { // Stoa's: the server records a participant
      room.on(name, ({ uid, reason }) => this.#fire(name, { uid: agoraUid(uid), reason }));
    }
    room.on('network-quality', ({ uplink, downlink }) => {
      // Agora 3.x's event shape (its runtime gives numbers, as here; 4.x's listener reads the same two fields)
      this.#fire('network-quality', { type: 'network-quality', uplinkNetworkQuality: uplink, downlinkNetworkQuality: downlink });
    });
    room.on('network-tip', (tip) => {
      this.#fire('network-tip', { ...tip, uid: agoraUid(tip.uid) });
      if (tip.tip === 'voice' && tip.uid === room.uid && this.config.autoAudioOnly) this.#toAudioOnly(tip);
    });
    room.on('reconnecting', () => this.#fire('reconnect'));
    room.on('reconnected', () => this.#fire('rejoin'));
    room.on('error', ({ code, message }) => this.#fire('error', { type: 'error', reason: code, message }));
  }

  /** Publishes an initialised local stream; in live mode this makes us a host. */
  publish(stream, err) {
    const room = this.#room;
    if (!room || room.state !== 'joined') { later(err, 'INVALID_OPERATION'); return; }
    if (!(stream instanceof Stream) || !stream.local || !stream.mediaStream) { later(err, 'INVALID_LOCAL_STREAM'); return; }
    if (this.#local) { later(err, 'STREAM_ALREADY_PUBLISHED'); return; }
    this.#local = stream;
    const { audio: audioMuted, video: videoMuted } = stream.muted;
    room.publish(stream.mediaStream, {
      codec: this.config.codec, profile: stream.videoProfile, audioMuted, videoMuted, dualStream: this.#dual.on, lowStream: this.#dual.low,
    }).then(() => {
      publishedOn.set(stream, room);
      this.#fire('stream-published', { stream });
    }, (e) => {
      if (this.#local === stream) this.#local = null;
      log.warn('publish failed', e);
      later(err, e.code === 'role_not_allowed' ? 'INVALID_OPERATION' : 'PUBLISH_STREAM_FAILED');
    });
  }

  /** Stops publishing; after leave() it is a no-op (leaving already closed the publication). */
  unpublish(stream, err) {
    if (!this.#local || (stream && stream !== this.#local)) { later(err, 'STREAM_NOT_YET_PUBLISHED'); return; }
    const s = this.#local;
    this.#local = null;
    publishedOn.delete(s);
    const room = this.#room;
    if (!room || room.state !== 'joined') return;
    room.unpublish().then(() => this.#fire('stream-unpublished', { stream: s }), (e) => later(err, e.code));
  }

  /** Subscribes to a remote stream; `stream-subscribed` follows when its media flows. subscribe(stream, [options], err) */
  subscribe(stream, options, err) {
    if (typeof options === 'function') [options, err] = [undefined, options];
    const room = this.#room;
    if (!room || room.state !== 'joined') { later(err, 'INVALID_OPERATION'); return; }
    if (!(stream instanceof Stream) || stream.local) { later(err, 'INVALID_REMOTE_STREAM'); return; }
    const uid = stream.info.uid;
    if (options) this.#subOptions.set(uid, options);
    room.subscribe(uid).then(({ stream: ms }) => {
      if (options) stream.attachMedia(ms, options); // a repeated subscribe() just switches audio/video on or off
    }, (e) => later(err, e.code === 'stream_not_found' ? 'NO_SUCH_REMOTE_STREAM' : 'SUBSCRIBE_STREAM_FAILED'));
  }

  unsubscribe(stream, err) {
    const room = this.#room;
    if (!room || room.state !== 'joined') { later(err, 'INVALID_OPERATION'); return; }
    if (!(stream instanceof Stream) || stream.local) { later(err, 'INVALID_REMOTE_STREAM'); return; }
    stream.stop();
    room.unsubscribe(stream.info.uid).catch((e) => later(err, e.code === 'stream_not_found' ? 'NO_SUCH_REMOTE_STREAM' : 'UNSUBSCRIBE_STREAM_FAILED'));
  }

  /** Leaves the channel: closes the publication and subscriptions (the app still closes its local stream). */
  leave(ok, err) {
    const room = this.#room;
    if (!room) { later(err, 'INVALID_OPERATION'); return; }
    this.#forget();
    this.#room = room; // until left, so getConnectionState() and `room` still tell
    room.leave().then(() => { if (this.#room === room) this.#room = null; later(ok); }, (e) => later(err, e.code));
  }

  /** Drops the session's remote streams and publication. */
  #forget() {
    for (const s of this.#remote.values()) s.stop();
    this.#remote.clear();
    this.#subOptions.clear();
    if (this.#local) publishedOn.delete(this.#local);
    this.#local = null;
    this.#room = null;
  }

  /** @param {string} token a fresh token for the same room and uid */
  renewToken(token) {
    this.#room?.renewToken(token).catch((e) => this.#fire('error', { type: 'error', reason: e.code, message: e.message }));
  }

  /**
   * Live mode only. Before join it picks the role to join with. After join, 'audience' unpublishes; 'host'
   * takes effect at the next publish() (the protocol makes hosts by publishing).
   * @param {'host'|'audience'} role @param {(err?: string|null) => void} [cb]
   */
  setClientRole(role, cb) {
    if (role !== 'host' && role !== 'audience') { later(cb, 'INVALID_PARAMETER'); return; }
    if (this.config.mode !== 'live') { later(cb, null); return; }
    if (!this.#room) { this.#role = role; later(cb, null); return; }
    if (role === 'audience' && this.#local) {
      const s = this.#local;
      this.#local = null;
      publishedOn.delete(s);
      this.#room.unpublish().then(() => { this.#fire('stream-unpublished', { stream: s }); cb?.(null); }, (e) => cb?.(e.code));
      return;
    }
    later(cb, null);
  }

  getConnectionState() { return this.#state; }

  /**
   * The others' network quality from the server's last report, as Agora 4.x's getRemoteNetworkQuality:
   * `{[uid]: {uplinkNetworkQuality, downlinkNetworkQuality}}` (0 unknown, 1 excellent … 5 very bad, 6 down),
   * returned at once. Agora 3.x has no such method; a callback, if given, also gets the result (asynchronously).
   * @param {(q: Record<string, NetworkQuality>) => void} [cb] @returns {Record<string, NetworkQuality>}
   */
  getRemoteNetworkQuality(cb) {
    const out = {};
    for (const [uid, q] of Object.entries(this.#room?.remoteNetworkQuality ?? {})) out[uid] = agoraQuality(q);
    later(cb, out);
    return out;
  }

  /** Our own network quality from the server's last report (Agora 4.x's getNetworkQuality). @returns {NetworkQuality} */
  getNetworkQuality() {
    return agoraQuality(this.#room?.networkQuality ?? { uplink: 0, downlink: 0 });
  }

  /**
   * This client's pings over the last 20 s, the numbers the seed app's network tip is made from:
   * `{lostRate, continueLostCount, rtt}` (lostRate 0..1 with 2 decimals; a ping unanswered for 3 s is lost;
   * rtt the mean round trip in ms). A plain object, returned at once: a Vuex action that returns it is a
   * Promise to `dispatch('getPingStats')` already (Vuex wraps it), and other code may wrap it in Promise.resolve.
   * @returns {import('./quality.js').PingStats}
   */
  getPingStats() {
    return this.#room?.getPingStats() ?? { lostRate: 0, continueLostCount: 0, rtt: 0 };
  }

  /** autoAudioOnly: the server suggests voice for our own network: stop sending video (a mute, which the
   * others see as mute-video) and tell the app. The video stays off until the app turns it back on. */
  #toAudioOnly(tip) {
    const s = this.#local;
    if (!s || !s.hasVideo() || !s.muteVideo()) return; // nothing published, no video, or already off
    log.info('network tip "voice": video muted (autoAudioOnly)');
    this.#fire('audio-only', { uid: agoraUid(tip.uid), tip: tip.tip, message: tip.message });
  }

  /**
   * Dual stream, as Agora's enableDualStream: the next publish() sends the video as two simulcast layers, the
   * camera's (high) and a smaller one (low, see setLowStreamParameter), and each viewer picks one with
   * setRemoteVideoStreamType. Call it before publish(); while publishing it takes effect at the next publish().
   * Agora 3.x's callbacks and 4.x's Promise both work; it never fails (it only shapes the next publish), so
   * the failure callback Agora 3.x takes second is never called.
   * @param {() => void} [ok] @returns {Promise<void>}
   */
  enableDualStream(ok) { return this.#setDualStream(true, ok); }

  /** Back to one video stream from the next publish(); see enableDualStream. */
  disableDualStream(ok) { return this.#setDualStream(false, ok); }

  #setDualStream(on, ok) {
    if (this.#local && this.#dual.on !== on) log.warn(`${on ? 'enable' : 'disable'}DualStream while publishing: it applies from the next publish()`);
    this.#dual.on = on;
    later(ok);
    return Promise.resolve();
  }

  /**
   * The low stream's size, frame rate and bitrate (kbps) for the next dual-stream publish(), as Agora's
   * setLowStreamParameter({width, height, framerate, bitrate}); 4.x's constraint objects ({ideal, max, …}) are
   * read as their ideal, exact or max value. Without it the low stream is half the width and height at a
   * quarter of the bitrate. Only the ratio of the sizes is kept (the low stream keeps the camera's aspect).
   */
  setLowStreamParameter(param = {}) {
    const num = (v) => (typeof v === 'number' ? v : v?.ideal ?? v?.exact ?? v?.max ?? v?.min);
    this.#dual.low = { width: num(param.width), height: num(param.height), framerate: num(param.framerate), bitrate: param.bitrate };
  }

  /**
   * Which of a dual-stream publisher's layers to receive: 0 high (the default), 1 low. Takes the remote Stream
   * (Agora 3.x) or its uid (4.x); may be called before subscribe(). Resolves once the server has it; a failure
   * rejects (INVALID_PARAMETER, INVALID_OPERATION or the protocol's code) and is logged, so 3.x code that
   * ignores the result sees no unhandled rejection.
   * @param {Stream|string|number} streamOrUid @param {0|1} streamType @returns {Promise<void>}
   */
  setRemoteVideoStreamType(streamOrUid, streamType) {
    const uid = streamOrUid instanceof Stream ? streamOrUid.info?.uid : streamOrUid;
    const room = this.#room;
    let p;
    if (uid == null || (streamType !== 0 && streamType !== 1)) p = Promise.reject(new Error('INVALID_PARAMETER'));
    else if (!room || room.state !== 'joined') p = Promise.reject(new Error('INVALID_OPERATION'));
    else p = room.setRemoteVideoStreamType(uid, streamType);
    p.catch((e) => log.warn('setRemoteVideoStreamType', e.code ?? e.message));
    return p;
  }
}

/* ------------------------------------------------------------------ module API */

/** @param {ClientConfig} config */
export function createClient(config) { return new Client(config); }

/** @param {StreamSpec} spec */
export function createStream(spec) { return new Stream(spec); }

/** Whether this browser has what Stoa needs: WebRTC, websockets and getUserMedia. */
export function checkSystemRequirements() {
  return typeof RTCPeerConnection === 'function' && typeof WebSocket === 'function' && !!navigator.mediaDevices?.getUserMedia;
}

/** Agora's getDevices(cb(devices), err(message)). */
export function getDevices(cb, err) {
  if (!navigator.mediaDevices?.enumerateDevices) { later(err, 'NOT_SUPPORTED'); return; }
  navigator.mediaDevices.enumerateDevices().then(cb, (e) => err?.(e.message));
}
