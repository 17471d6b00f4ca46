/**
 * The SDK's core, the promise API: {@link Room} speaks the websocket protocol of docs/signaling.md (requests and
 * replies, keepalive, resume after a dropped socket) and owns the PeerConnections (`pub` for our publication,
 * `sub:<uid>` per subscribed remote stream); `join()` opens one. Also here: StoaError, and the event emitter the
 * Agora face's Client and Stream share with Room.
 */

import { log } from './log.js';
import { videoProfile, videoConstraints, applySenderProfile, preferCodec, dualStreamEncodings, setActiveLayers } from './profiles.js';
import { Pinger, readNetworkQuality, readNetworkTip } from './quality.js';

/** @typedef {import('./profiles.js').VideoProfile} VideoProfile
 * @typedef {import('./profiles.js').LowStreamParameter} LowStreamParameter
 * @typedef {import('./quality.js').PingStats} PingStats @typedef {import('./quality.js').Levels} Levels */

/** An error with a stable code: the protocol's (`token_expired`, `stream_not_found`, …) or the SDK's
 * own (`disconnected`, `timeout`, `not_joined`, `already_published`). */
export class StoaError extends Error {
  /** @param {string} code @param {string} [message] */
  constructor(code, message) {
    super(message || code);
    this.name = 'StoaError';
    this.code = code;
  }
}

/** A minimal event emitter: a handler that throws is logged and does not stop the others. */
export class Emitter {
  /** @type {Map<string, Set<Function>>} */
  #handlers = new Map();

  /** @param {string} name @param {(payload: any) => void} fn */
  on(name, fn) {
    if (!this.#handlers.has(name)) this.#handlers.set(name, new Set());
    this.#handlers.get(name).add(fn);
    return this;
  }

  /** @param {string} name @param {Function} fn */
  off(name, fn) {
    this.#handlers.get(name)?.delete(fn);
    return this;
  }

  /** @param {string} name @param {any} [payload] */
  emit(name, payload) {
    for (const fn of [...(this.#handlers.get(name) ?? [])]) {
      try { fn(payload); } catch (err) { log.error(`"${name}" handler threw`, err); }
    }
  }
}

const sameJSON = (a, b) => JSON.stringify(a) === JSON.stringify(b);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The network-quality ping goes every second (quality.js); over the websocket it doubles as the keepalive. While
// it rides the publication's data channel, a bare websocket ping still goes every PING_MS to watch the socket.
const PING_MS = 5000;
const SILENCE_MS = 8000; // a ping unanswered this long means the socket is dead even if the browser hasn't noticed
const BACKOFF_MS = [500, 1000, 2000, 4000]; // resume attempts, the last repeated until graceMs runs out
const REQUEST_TIMEOUT_MS = 15000;

/**
 * @typedef {{uid: string, audio: boolean, video: boolean, audioMuted: boolean, videoMuted: boolean, codec?: string}} StreamInfo
 * @typedef {{uid: string, role: string, tag?: string}} ParticipantInfo
 * @typedef {object} RoomOptions
 * @property {string} token a Stoa token (from POST /api/token on your server)
 * @property {'host'|'audience'} [role] defaults to the room's: host in rtc rooms, audience in live ones
 * @property {'rtc'|'live'} [mode] the room's mode if this participant creates it
 * @property {boolean} [autoSubscribe] subscribe to every stream as it appears (default true)
 * @property {string} [server] websocket URL (default: ws(s)://<host this SDK was loaded from>/ws)
 * @property {'vp8'|'h264'} [codec] preferred video codec when publishing (default vp8)
 * @property {string|VideoProfile} [profile] default video profile for publish() (default 480p_1)
 * @property {boolean} [dualStream] publish video as two simulcast layers, high and low (Agora's dual stream;
 *   default false); viewers choose with setRemoteVideoStreamType
 * @property {LowStreamParameter} [lowStream] the low layer's size, frame rate and bitrate (default: half the
 *   width and height, a quarter of the bitrate)
 * @typedef {object} PublishOptions
 * @property {boolean|MediaTrackConstraints} [audio] capture audio (default true)
 * @property {boolean} [video] capture video (default true)
 * @property {'vp8'|'h264'} [codec]
 * @property {string|VideoProfile} [profile]
 * @property {boolean} [audioMuted] start muted
 * @property {boolean} [videoMuted]
 * @property {boolean} [dualStream] @property {LowStreamParameter} [lowStream] as in RoomOptions
 * @typedef {{name: string, pc: RTCPeerConnection, chain: Promise<any>, uid?: string, stream?: MediaStream,
 *   subscribed?: boolean, request?: Promise<any>|null, profile?: VideoProfile, restarting?: boolean,
 *   early?: RTCIceCandidateInit[], awaitingOffer?: boolean}} PCEntry
 */

/**
 * A participant's session in a room: the websocket, its requests and replies, and the PeerConnections.
 * This is the promise API; the Agora-shaped Client wraps one.
 *
 * Events (`room.on(name, fn)`): `participant-joined` {uid, role, tag}, `peer-leave` {uid, reason},
 * `stream-added` {stream: StreamInfo}, `stream-removed` {uid, stream}, `stream-updated` {stream, prev},
 * `role-changed` {uid, role, self}, `track` {uid, stream: MediaStream, pc, track}, `subscribed` {uid, stream, pc},
 * `unsubscribed` {uid}, `published` {stream}, `unpublished` {stream}, `token-will-expire` {expiresAt},
 * `token-expired`, `reconnecting`, `reconnected`, `state` {prev, state}, `left`, `error` {code, message, fatal},
 * `network-quality` {uplink, downlink, remote: {uid: {uplink, downlink}}} (Agora's 0–6 levels, every 2 s),
 * `network-tip` {uid, tag, tip, message, lostRate, continueLostCount} (tip '' clears it).
 * Events about the room as found at join time fire during join(): register handlers on `new Room(opts)`
 * before `await room.join()`, or read `room.participants` and `room.streams` afterwards.
 */
export class Room extends Emitter {
  /** 'new' | 'connecting' | 'joined' | 'reconnecting' | 'leaving' | 'left' | 'failed' */
  state = 'new';
  uid = '';
  roomName = '';
  role = '';
  tag = '';
  mode = 'rtc';
  /** @type {Map<string, ParticipantInfo>} the others in the room */
  participants = new Map();
  /** @type {Map<string, StreamInfo>} the others' publications */
  streams = new Map();
  /** @type {number|undefined} websocket round trip (ms) measured by the last keepalive ping */
  rtt = undefined;
  /** @type {number|undefined} the server's own measure of it, from `pong` */
  serverRtt = undefined;
  /** @type {Levels} our own levels from the last `network-quality` (0 unknown … 6 down) */
  networkQuality = { uplink: 0, downlink: 0 };
  /** @type {Record<string, Levels>} the others' levels by uid, from the last `network-quality` */
  remoteNetworkQuality = {};
  expiresAt = 0;
  graceMs = 20000;
  /** @type {RTCIceServer[]} */
  iceServers = [];

  /** @type {WebSocket|null} */ #ws = null;
  #nextId = 0;
  /** @type {Map<number, {resolve: Function, reject: Function, timer: any, key: string, type: string}>} */
  #pending = new Map();
  /** @type {Map<string, number>} replies that come without an id, e.g. `subscribed:<uid>` → request id */
  #keyed = new Map();
  /** @type {PCEntry|null} */ #pub = null;
  /** @type {Map<string, PCEntry>} */ #subs = new Map();
  #muted = { audio: false, video: false };
  #session = '';
  #pingTimer = 0;
  #pinger = new Pinger();
  #pingSentAt = 0;
  #unansweredSince = 0;
  /** @type {StoaError|null} set when the server said the session cannot go on: no resume after the close */
  #fatal = null;

  /** @param {RoomOptions} opts */
  constructor(opts) {
    super();
    if (!opts?.token) throw new StoaError('bad_request', 'a token is required');
    this.opts = { autoSubscribe: true, codec: 'vp8', profile: '480p_1', ...opts };
    this.token = opts.token;
  }

  /** The websocket URL: the `server` option, else /ws on the host this module was loaded from (the page's host
   * when the page and the SDK share an origin; the Stoa server's when an app imports the SDK from it). */
  get url() {
    if (this.opts.server) return this.opts.server;
    const origin = new URL(import.meta.url);
    const base = origin.protocol === 'http:' || origin.protocol === 'https:' ? origin : location;
    return `${base.protocol === 'https:' ? 'wss' : 'ws'}://${base.host}/ws`;
  }

  /** The PeerConnection of our publication, if any. */
  get pubPC() { return this.#pub?.pc ?? null; }

  /** @param {string|number} uid @returns {RTCPeerConnection|null} the PeerConnection receiving uid's stream */
  subPC(uid) { return this.#subs.get(String(uid))?.pc ?? null; }

  /** Our pings over the last 20 seconds as the seed app reads them: lostRate (0..1), continueLostCount, rtt (ms).
   * @returns {PingStats} */
  getPingStats() { return this.#pinger.stats(); }

  /** Opens the websocket and joins. Resolves with the `joined` message. */
  async join() {
    if (this.state !== 'new') throw new StoaError('already_joined', `join() on a room in state ${this.state}`);
    this.#setState('connecting');
    const { role, mode, autoSubscribe, room, uid } = this.opts;
    try {
      // room and uid are optional: when given, the server checks them against the token (token_room_mismatch)
      const msg = await this.#connect({ type: 'join', token: this.token, role, mode, autoSubscribe, room, uid });
      this.#setState('joined');
      this.#applyJoined(msg, false);
      this.#startKeepalive();
      return msg;
    } catch (err) {
      if (this.state === 'connecting') { // not when leave() came first
        this.#teardown();
        this.#setState('failed');
      }
      throw err;
    }
  }

  /**
   * Publishes local media: a MediaStream you captured, or options to capture one with getUserMedia.
   * In a live room this makes us a host (the token must allow it). Resolves with the published MediaStream.
   * @param {MediaStream | PublishOptions} [source]
   * @param {PublishOptions} [options] codec, profile and mute state when source is a MediaStream
   */
  async publish(source = {}, options = {}) {
    this.#mustBeJoined('publish');
    if (this.#pub) throw new StoaError('already_published', 'already publishing: unpublish first');
    const given = typeof MediaStream !== 'undefined' && source instanceof MediaStream;
    const opts = { ...this.opts, ...(given ? options : source) };
    const vp = videoProfile(opts.profile);
    const stream = given ? source : await navigator.mediaDevices.getUserMedia({
      audio: opts.audio ?? true,
      video: (opts.video ?? true) ? videoConstraints(vp) : false,
    });
    const muted = { audio: opts.audioMuted ?? this.#muted.audio, video: opts.videoMuted ?? this.#muted.video };
    const entry = this.#newPC('pub');
    entry.stream = stream;
    entry.profile = vp;
    this.#pub = entry;
    this.#muted = muted;
    for (const track of stream.getTracks()) {
      const isVideo = track.kind === 'video';
      if (muted[track.kind]) track.enabled = false;
      let sendEncodings;
      if (isVideo) {
        sendEncodings = opts.dualStream
          ? dualStreamEncodings(vp, opts.lowStream, track.getSettings?.())
          : [{ maxBitrate: vp.maxBitrate * 1000, maxFramerate: vp.frameRate }];
      }
      const tr = entry.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream], sendEncodings });
      if (isVideo) preferCodec(tr, opts.codec);
    }
    this.#pinger.attach(entry.pc); // before the offer, so it carries the ping channel
    try {
      const offer = await entry.pc.createOffer();
      await entry.pc.setLocalDescription(offer);
      // The reply is an `answer`; #onAnswer applies it before this request resolves.
      await this.#request({ type: 'publish', sdp: offer.sdp, audioMuted: muted.audio, videoMuted: muted.video });
    } catch (err) {
      if (this.#pub === entry) { this.#pub = null; this.#pinger.detach(); }
      entry.pc.close();
      throw err;
    }
    this.#setRole(this.uid, 'host');
    this.emit('published', { stream });
    return stream;
  }

  /** Stops publishing. The tracks stay live: they are the app's to stop. */
  async unpublish() {
    const entry = this.#pub;
    if (!entry) return;
    this.#pub = null;
    this.#pinger.detach();
    try {
      if (this.state === 'joined') await this.#request({ type: 'unpublish' });
    } finally {
      entry.pc.close();
    }
    if (this.mode === 'live') this.#setRole(this.uid, 'audience');
    this.emit('unpublished', { stream: entry.stream });
  }

  /**
   * Subscribes to a publisher's stream. Resolves when its media flows ({uid, stream: MediaStream, pc});
   * `track` events fire earlier, as each track is negotiated.
   * @param {string|number} uid
   */
  async subscribe(uid) {
    uid = String(uid);
    this.#mustBeJoined('subscribe');
    let entry = this.#subs.get(uid);
    if (!entry) entry = this.#newSub(uid);
    if (!entry.subscribed) {
      entry.request ??= this.#request({ type: 'subscribe', uid }, { key: `subscribed:${uid}` })
        .finally(() => { entry.request = null; });
      try {
        await entry.request;
      } catch (err) {
        if (!entry.subscribed) this.#closeSub(uid);
        throw err;
      }
      await entry.chain;
    }
    return { uid, stream: entry.stream, pc: entry.pc };
  }

  /** @param {string|number} uid */
  async unsubscribe(uid) {
    uid = String(uid);
    if (!this.#subs.has(uid)) return;
    try {
      if (this.state === 'joined') await this.#request({ type: 'unsubscribe', uid }, { key: `unsubscribed:${uid}` });
    } finally {
      this.#closeSub(uid);
    }
  }

  /**
   * Mutes or unmutes our published audio or video: the track is disabled (silence / black frames) and the
   * others get `stream-updated`. Before publishing, it sets the state publish() starts in.
   * @param {'audio'|'video'} kind @param {boolean} muted
   */
  async mute(kind, muted) {
    this.#muted[kind] = !!muted;
    const entry = this.#pub;
    if (!entry) return;
    for (const t of entry.stream.getTracks()) if (t.kind === kind) t.enabled = !muted;
    if (this.state === 'joined') await this.#request({ type: 'mute', kind, muted: !!muted });
  }

  /** Changes the published video's profile: capture constraints and the sender's bitrate and frame-rate caps.
   * @param {string|VideoProfile} profile */
  async setVideoProfile(profile) {
    const vp = videoProfile(profile);
    this.opts.profile = vp;
    const entry = this.#pub;
    if (!entry) return;
    entry.profile = vp;
    const track = entry.stream.getVideoTracks()[0];
    await Promise.all([track?.applyConstraints(videoConstraints(vp)), applySenderProfile(entry.pc, vp)]);
  }

  /**
   * Chooses which layer of a publisher's dual-stream (simulcast) video we receive: 0 the high stream (the
   * default), 1 the low one, as Agora numbers them. It may be called before subscribing; for a publisher
   * without dual stream it changes nothing.
   * @param {string|number} uid @param {0|1} streamType
   */
  async setRemoteVideoStreamType(uid, streamType) {
    if (streamType !== 0 && streamType !== 1) throw new StoaError('bad_request', `streamType must be 0 (high) or 1 (low), not ${streamType}`);
    this.#mustBeJoined('setRemoteVideoStreamType');
    await this.#request({ type: 'set-stream-type', uid: String(uid), streamType });
  }

  /** Hands the server a fresh token (for the same room and uid) before the current one expires.
   * @param {string} token */
  async renewToken(token) {
    const reply = await this.#request({ type: 'renew', token });
    this.token = token;
    this.expiresAt = reply.expiresAt ?? this.expiresAt;
    return reply;
  }

  /** Leaves the room (the others get peer-leave "quit") and closes every PeerConnection. */
  async leave() {
    if (this.state === 'leaving' || this.state === 'left') return;
    const wasJoined = this.state === 'joined';
    this.#setState('leaving');
    if (wasJoined) await this.#request({ type: 'leave' }, { timeoutMs: 3000 }).catch((err) => log.debug('leave', err));
    this.#teardown();
    this.#setState('left');
    this.emit('left', {});
  }

  /* ---------------- websocket, requests and replies */

  /** Opens a websocket, sends the join (or resume) request on it, resolves with `joined`. */
  #connect(joinMsg, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.#ws = ws;
      const fail = (err) => { clearTimeout(timer); reject(err); };
      const timer = setTimeout(() => { fail(new StoaError('timeout', 'no reply to join')); ws.close(); }, timeoutMs);
      ws.onopen = () => this.#request(joinMsg, { timeoutMs }).then((m) => { clearTimeout(timer); resolve(m); }, fail);
      ws.onmessage = (ev) => { if (ws === this.#ws) this.#onFrame(ev.data); };
      ws.onclose = (ev) => {
        fail(new StoaError('disconnected', `websocket closed (${ev.code})`));
        if (ws === this.#ws) this.#onSocketClosed();
      };
    });
  }

  /** @returns {boolean} whether the message went out */
  #send(msg) {
    if (this.#ws?.readyState !== WebSocket.OPEN) return false;
    log.debug('->', msg.type, msg.id ?? '', msg.pc ?? msg.uid ?? '');
    this.#ws.send(JSON.stringify(msg));
    return true;
  }

  /** Sends a request with a fresh id; resolves with the reply that echoes it (or, with `key`, the id-less
   * reply it names), rejects with the `error` it caused. */
  #request(msg, { key = '', timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#settle(id, new StoaError('timeout', `no reply to ${msg.type}`)), timeoutMs);
      this.#pending.set(id, { resolve, reject, timer, key, type: msg.type });
      if (key) this.#keyed.set(key, id);
      if (!this.#send({ ...msg, id })) this.#settle(id, new StoaError('disconnected', `cannot send ${msg.type}: not connected`));
    });
  }

  /** @param {number} id @param {any} result a reply, or an Error to reject with */
  #settle(id, result) {
    const p = this.#pending.get(id);
    if (!p) return false;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    if (p.key) this.#keyed.delete(p.key);
    if (result instanceof Error) p.reject(result); else p.resolve(result);
    return true;
  }

  #failPending(err) {
    for (const id of [...this.#pending.keys()]) this.#settle(id, err);
  }

  #onFrame(data) {
    this.#unansweredSince = 0;
    let msg;
    try { msg = JSON.parse(data); } catch { log.warn('ignoring a frame that is not JSON'); return; }
    log.debug('<-', msg.type, msg.id ?? '', msg.pc ?? msg.uid ?? '');
    // After a resume the server replays what happened while we were away, which `joined` already showed us:
    // the room-state handlers below ignore what they already know.
    switch (msg.type) {
      case 'participant-joined':
        if (msg.uid === this.uid || this.participants.has(msg.uid)) break;
        this.participants.set(msg.uid, { uid: msg.uid, role: msg.role, tag: msg.tag });
        this.emit('participant-joined', { uid: msg.uid, role: msg.role, tag: msg.tag });
        break;
      case 'peer-leave':
        if (msg.uid === this.uid) this.#fatal = new StoaError('kicked', 'the same uid joined elsewhere');
        else if (this.participants.has(msg.uid) || this.streams.has(msg.uid)) this.#peerLeft(msg.uid, msg.reason);
        break;
      case 'stream-added':
        if (msg.stream && msg.stream.uid !== this.uid && !sameJSON(this.streams.get(msg.stream.uid), msg.stream)) {
          this.#streamRemoved(msg.stream.uid); // a new publication replaces an old one we may still hold
          this.streams.set(msg.stream.uid, msg.stream);
          this.emit('stream-added', { stream: msg.stream });
        }
        break;
      case 'stream-removed': this.#streamRemoved(msg.uid); break;
      case 'stream-updated': {
        if (!msg.stream || msg.stream.uid === this.uid || sameJSON(this.streams.get(msg.stream.uid), msg.stream)) break;
        const prev = this.streams.get(msg.stream.uid);
        this.streams.set(msg.stream.uid, msg.stream);
        this.emit('stream-updated', { stream: msg.stream, prev });
        break;
      }
      case 'role-changed': this.#setRole(msg.uid, msg.role); break;
      case 'recording-started': case 'recording-stopped': case 'recording-failed': // the server records msg.uid
        this.emit(msg.type, { uid: msg.uid, reason: msg.reason });
        break;
      case 'layers': { // dual stream: send the layers somebody watches, pause the others
        const entry = this.#pub;
        if (entry && Array.isArray(msg.layers)) {
          this.#run(entry, () => setActiveLayers(entry.pc, msg.layers)).catch((err) => log.warn('pause unwatched layers', err));
        }
        break;
      }
      case 'offer': this.#onOffer(msg); return;
      case 'answer': this.#onAnswer(msg); return; // settles its request once applied
      case 'candidate': {
        const entry = this.#entry(msg.pc);
        if (entry && msg.candidate?.candidate) this.#run(entry, () => this.#addCandidate(entry, msg.candidate));
        break;
      }
      case 'subscribed': {
        const entry = this.#subs.get(msg.uid);
        if (entry && !entry.subscribed) {
          this.#run(entry, () => {
            entry.subscribed = true;
            this.emit('subscribed', { uid: msg.uid, stream: entry.stream, pc: entry.pc });
          });
        }
        break;
      }
      case 'unsubscribed':
        if (this.#subs.has(msg.uid)) {
          this.#closeSub(msg.uid);
          this.emit('unsubscribed', { uid: msg.uid });
        }
        break;
      case 'pong':
        if (typeof msg.t === 'number') this.rtt = Math.round(performance.now() - msg.t);
        this.serverRtt = msg.rtt;
        this.#pinger.onPong(msg, performance.now());
        break;
      case 'network-quality': {
        const { self, remote } = readNetworkQuality(msg);
        this.networkQuality = self;
        this.remoteNetworkQuality = remote;
        this.emit('network-quality', { ...self, remote });
        break;
      }
      case 'network-tip': this.emit('network-tip', readNetworkTip(msg)); break;
      case 'token-will-expire': this.emit('token-will-expire', { expiresAt: msg.expiresAt }); break;
      case 'token-expired':
        this.#fatal = new StoaError('token_expired', 'the token expired without renewal');
        this.emit('token-expired', {});
        break;
      case 'error': this.#onError(msg); return;
    }
    if (msg.id) this.#settle(msg.id, msg);
    const keyed = this.#keyed.get(`${msg.type}:${msg.uid}`);
    if (keyed) this.#settle(keyed, msg);
  }

  #onError(msg) {
    const err = new StoaError(msg.code ?? 'internal', msg.message);
    // A bad token in `renew` leaves the session as it was; anywhere else the server closes the socket next.
    const fatal = err.code === 'message_too_large' || err.code.startsWith('token_') && this.#pending.get(msg.id)?.type !== 'renew';
    if (fatal) this.#fatal = err;
    if (msg.id && this.#settle(msg.id, err)) return;
    log.warn('server error', err.code, err.message);
    this.emit('error', { code: err.code, message: err.message, fatal });
  }

  #onSocketClosed() {
    this.#ws = null;
    this.#stopKeepalive();
    this.#failPending(new StoaError('disconnected', 'websocket closed'));
    if (this.state !== 'joined') return; // connecting, reconnecting and leaving handle it themselves
    if (this.#fatal) this.#fail(this.#fatal); else this.#resume();
  }

  /* ---------------- keepalive and resume */

  /** Pings every second: over the ping data channel while it is open (then a bare websocket ping every PING_MS
   * keeps watching the socket), else over the websocket; each pong refreshes `rtt`. Checks every second whether
   * the socket stayed silent SILENCE_MS after a ping, which on a phone changing networks is how a dead socket
   * shows long before the browser closes it. */
  #startKeepalive() {
    this.#stopKeepalive();
    const tick = () => {
      const now = performance.now();
      if (this.#unansweredSince && now - this.#unansweredSince > SILENCE_MS) {
        log.warn(`no reply to a ping in ${SILENCE_MS} ms: reconnecting`);
        const ws = this.#ws;
        if (ws) { ws.onclose = ws.onmessage = null; ws.close(); }
        this.#onSocketClosed();
        return;
      }
      const ping = this.#pinger.tick(now) ?? (now - this.#pingSentAt >= PING_MS ? { type: 'ping', t: now } : null);
      if (!ping) return;
      this.#pingSentAt = now;
      if (this.#send(ping) && !this.#unansweredSince) this.#unansweredSince = now;
    };
    this.#pingSentAt = 0;
    tick();
    this.#pingTimer = setInterval(tick, 1000);
  }

  #stopKeepalive() {
    clearInterval(this.#pingTimer);
    this.#unansweredSince = 0;
  }

  /** The socket dropped: rejoin with our session within graceMs, then restart ICE on every PeerConnection. */
  async #resume() {
    this.#setState('reconnecting');
    this.emit('reconnecting', {});
    const deadline = performance.now() + this.graceMs;
    for (let i = 0; performance.now() < deadline; i++) {
      await sleep(Math.min(BACKOFF_MS[Math.min(i, BACKOFF_MS.length - 1)], deadline - performance.now()));
      if (this.state !== 'reconnecting') return;
      try {
        const wait = Math.max(1000, Math.min(5000, deadline - performance.now()));
        const msg = await this.#connect({ type: 'join', token: this.token, session: this.#session }, wait);
        if (this.state !== 'reconnecting') return;
        if (!msg.resumed) {
          this.#send({ type: 'leave' }); // a fresh participant, not us: don't leave it behind
          throw new StoaError('session_not_found', 'the server did not resume the session');
        }
        this.#setState('joined');
        this.#applyJoined(msg, true);
        this.#startKeepalive();
        if (this.#pub) this.#restartIce(this.#pub);
        for (const entry of this.#subs.values()) this.#restartIce(entry);
        this.emit('reconnected', {});
        return;
      } catch (err) {
        if (this.state !== 'reconnecting') return;
        if (err.code === 'session_not_found' || err.code?.startsWith('token_')) { this.#fail(err); return; }
        log.info('resume attempt failed:', err.message);
      }
    }
    this.#fail(new StoaError('session_not_found', `could not reconnect within ${this.graceMs} ms`));
  }

  /** @param {PCEntry} entry */
  #restartIce(entry) {
    if (entry.name !== 'pub') {
      entry.awaitingOffer = this.#send({ type: 'restart', pc: entry.name }); // the server answers with a new offer
      return;
    }
    if (entry.restarting) return;
    entry.restarting = true;
    (async () => {
      try {
        const offer = await entry.pc.createOffer({ iceRestart: true });
        await entry.pc.setLocalDescription(offer);
        await this.#request({ type: 'offer', pc: 'pub', sdp: offer.sdp });
      } catch (err) {
        log.warn('ICE restart of pub failed', err);
        if (entry.pc.signalingState === 'have-local-offer') await entry.pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
      } finally {
        entry.restarting = false;
      }
    })();
  }

  /** The session is over without our asking: tell the app once. */
  #fail(err) {
    this.#teardown();
    this.#setState('failed');
    this.emit('error', { code: err.code, message: err.message, fatal: true });
  }

  #teardown() {
    this.#stopKeepalive();
    const ws = this.#ws;
    this.#ws = null;
    if (ws && ws.readyState < WebSocket.CLOSING) ws.close(1000);
    this.#failPending(new StoaError('disconnected', 'session closed'));
    this.#pinger.detach();
    this.#pub?.pc.close();
    this.#pub = null;
    for (const uid of [...this.#subs.keys()]) this.#closeSub(uid);
  }

  /* ---------------- room state */

  #setState(state) {
    const prev = this.state;
    if (prev === state) return;
    this.state = state;
    this.emit('state', { prev, state });
  }

  #mustBeJoined(what) {
    if (this.state !== 'joined') throw new StoaError('not_joined', `${what}: the room is ${this.state}`);
  }

  /** Takes in `joined`; on a resume, reports what changed while we were away. */
  #applyJoined(msg, resumed) {
    Object.assign(this, {
      uid: msg.uid, roomName: msg.room, role: msg.role ?? this.role, tag: msg.tag ?? '', mode: msg.mode ?? 'rtc',
      graceMs: msg.graceMs ?? 20000, expiresAt: msg.expiresAt ?? 0, iceServers: msg.iceServers ?? [],
    });
    this.#session = msg.session ?? this.#session;
    const people = new Map((msg.participants ?? []).filter((p) => p.uid !== this.uid).map((p) => [p.uid, p]));
    const streams = new Map((msg.streams ?? []).filter((s) => s.uid !== this.uid).map((s) => [s.uid, s]));
    const oldPeople = resumed ? this.participants : new Map();
    const oldStreams = resumed ? this.streams : new Map();
    this.participants = people;
    this.streams = new Map(oldStreams);
    for (const [uid, p] of people) if (!oldPeople.has(uid)) this.emit('participant-joined', { ...p });
    for (const uid of oldStreams.keys()) if (!streams.has(uid)) this.#streamRemoved(uid);
    for (const [uid, s] of streams) {
      const prev = oldStreams.get(uid);
      this.streams.set(uid, s);
      if (!prev) this.emit('stream-added', { stream: s });
      else if (!sameJSON(prev, s)) this.emit('stream-updated', { stream: s, prev });
    }
    for (const [uid] of oldPeople) if (!people.has(uid)) this.emit('peer-leave', { uid, reason: 'timeout' });
  }

  #setRole(uid, role) {
    const self = uid === this.uid;
    if (self) {
      if (this.role === role) return;
      this.role = role;
    } else {
      const p = this.participants.get(uid);
      if (p) p.role = role;
    }
    this.emit('role-changed', { uid, role, self });
  }

  #streamRemoved(uid) {
    const stream = this.streams.get(uid);
    if (!stream) return;
    this.streams.delete(uid);
    this.#closeSub(uid);
    this.emit('stream-removed', { uid, stream });
  }

  #peerLeft(uid, reason) {
    this.#streamRemoved(uid);
    this.participants.delete(uid);
    this.emit('peer-leave', { uid, reason });
  }

  /* ---------------- PeerConnections */

  /** @returns {PCEntry} */
  #newPC(name) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    const entry = { name, pc, chain: Promise.resolve() };
    pc.onicecandidate = ({ candidate: c }) => {
      this.#send({ type: 'candidate', pc: name,
        candidate: c?.candidate ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null });
    };
    pc.onconnectionstatechange = () => {
      log.debug(name, pc.connectionState);
      if (pc.connectionState === 'failed' && this.state === 'joined') this.#restartIce(entry);
    };
    return entry;
  }

  #newSub(uid) {
    const entry = this.#newPC(`sub:${uid}`);
    Object.assign(entry, { uid, stream: new MediaStream(), subscribed: false, request: null });
    entry.pc.ontrack = ({ track }) => {
      entry.stream.addTrack(track);
      this.emit('track', { uid, stream: entry.stream, pc: entry.pc, track });
    };
    this.#subs.set(uid, entry);
    return entry;
  }

  /** @param {string} uid */
  #closeSub(uid) {
    const entry = this.#subs.get(uid);
    if (!entry) return;
    this.#subs.delete(uid);
    entry.pc.close();
    const waiting = this.#keyed.get(`subscribed:${uid}`);
    if (waiting) this.#settle(waiting, new StoaError('stream_not_found', `the stream of ${uid} went away`));
  }

  /** @param {string} name 'pub' or 'sub:<uid>' @returns {PCEntry|undefined} */
  #entry(name) {
    if (name === 'pub') return this.#pub ?? undefined;
    return typeof name === 'string' && name.startsWith('sub:') ? this.#subs.get(name.slice(4)) : undefined;
  }

  /** Runs a description or candidate operation after the ones before it on the same PeerConnection, so a
   * candidate is never added before the description it belongs to. */
  #run(entry, fn) {
    const p = entry.chain.then(fn);
    entry.chain = p.catch(() => {});
    return p;
  }

  /** Adds a remote candidate, or keeps it for the remote description it belongs to: the server may trickle
   * candidates before its offer or answer, and after an ICE restart they are for the description still to come. */
  async #addCandidate(entry, candidate) {
    if (!entry.pc.remoteDescription || entry.pc.signalingState === 'have-local-offer' || entry.awaitingOffer) {
      (entry.early ??= []).push(candidate);
      return;
    }
    await entry.pc.addIceCandidate(candidate).catch((err) => log.debug(`${entry.name}: candidate`, err));
  }

  async #setRemote(entry, desc) {
    await entry.pc.setRemoteDescription(desc);
    for (const c of entry.early?.splice(0) ?? []) await this.#addCandidate(entry, c);
  }

  /** A subscription to negotiate (server offers, we answer), or an ICE restart of one. */
  #onOffer(msg) {
    const uid = msg.uid ?? String(msg.pc).slice(4);
    if (!String(msg.pc).startsWith('sub:')) { log.warn('ignoring an offer for', msg.pc); return; }
    const entry = this.#subs.get(uid) ?? this.#newSub(uid);
    this.#run(entry, async () => {
      entry.awaitingOffer = false;
      await this.#setRemote(entry, { type: 'offer', sdp: msg.sdp });
      await entry.pc.setLocalDescription(await entry.pc.createAnswer());
      this.#send({ type: 'answer', pc: msg.pc, sdp: entry.pc.localDescription.sdp });
    }).catch((err) => this.emit('error', { code: 'invalid_sdp', message: `answer ${msg.pc}: ${err.message}`, fatal: false }));
  }

  /** The server's answer to our publish or pub re-offer: apply it, then settle the request. */
  #onAnswer(msg) {
    const entry = this.#entry(msg.pc);
    if (!entry) {
      if (msg.id) this.#settle(msg.id, new StoaError('pc_not_found', `answer for unknown pc ${msg.pc}`));
      return;
    }
    this.#run(entry, () => this.#setRemote(entry, { type: 'answer', sdp: msg.sdp })).then(
      () => { if (msg.id) this.#settle(msg.id, msg); },
      (err) => { if (msg.id) this.#settle(msg.id, new StoaError('invalid_sdp', `apply answer: ${err.message}`)); });
  }
}

/** Joins a room: the promise API. `const room = await Stoa.join({token})`.
 * @param {RoomOptions} opts @returns {Promise<Room>} */
export async function join(opts) {
  const room = new Room(opts);
  await room.join();
  return room;
}
