/**
 * Stoa browser SDK. One core, {@link Room}, speaks the websocket protocol of docs/signaling.md and owns the
 * PeerConnections (`pub` for our publication, `sub:<uid>` per subscribed remote stream). Two faces sit on it:
 *
 * - the promise API for new code: `const room = await Stoa.join({token})`, `await room.publish()`, …;
 * - an Agora Web SDK 2.x/3.x-shaped API (`Stoa.createClient`, `Stoa.createStream`, callbacks and events), so
 *   code written for Agora runs after swapping `import AgoraRTC from 'agora-rtc-sdk'` for this module.
 *
 * Plain ES module, no build step: `import Stoa from '/sdk/stoa.js'`.
 */

export const VERSION = '0.1.0';

/* ------------------------------------------------------------------ logging, errors, small helpers */

let logLevel = 1;

/** Agora-shaped log settings. Stoa logs to the browser console only; there is no log collector. */
export const Logger = {
  DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3, NONE: 4,
  /** @param {number} level 0 (DEBUG, everything) … 4 (NONE); lower numbers print more. */
  setLogLevel(level) { logLevel = Number(level); },
  /** Kept so Agora code runs; nothing is uploaded. */
  enableLogUpload() {},
  disableLogUpload() {},
};

const log = {
  debug: (...a) => { if (logLevel <= 0) console.debug('[stoa]', ...a); },
  info: (...a) => { if (logLevel <= 1) console.info('[stoa]', ...a); },
  warn: (...a) => { if (logLevel <= 2) console.warn('[stoa]', ...a); },
  error: (...a) => { if (logLevel <= 3) console.error('[stoa]', ...a); },
};

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
class Emitter {
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

/** Calls an Agora-style callback asynchronously, as Agora does, if there is one. */
function later(fn, ...args) {
  if (typeof fn === 'function') setTimeout(() => fn(...args), 0);
}

const sameJSON = (a, b) => JSON.stringify(a) === JSON.stringify(b);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Uids are strings on the wire; Agora apps get a number back when the uid is a 32-bit unsigned integer. */
function agoraUid(uid) {
  return /^(0|[1-9]\d{0,9})$/.test(uid) && Number(uid) <= 0xffffffff ? Number(uid) : uid;
}

/* ------------------------------------------------------------------ video profiles and codecs */

/** Agora's video profiles: [width, height, frame rate, maximum bitrate in kbps]. */
export const VIDEO_PROFILES = Object.freeze({
  '120p_1': [160, 120, 15, 65], '120p_3': [120, 120, 15, 50],
  '180p_1': [320, 180, 15, 140], '180p_3': [180, 180, 15, 100], '180p_4': [240, 180, 15, 120],
  '240p_1': [320, 240, 15, 200], '240p_3': [240, 240, 15, 140], '240p_4': [424, 240, 15, 220],
  '360p_1': [640, 360, 15, 400], '360p_3': [360, 360, 15, 260], '360p_4': [640, 360, 30, 600],
  '360p_6': [360, 360, 30, 400], '360p_7': [480, 360, 15, 320], '360p_8': [480, 360, 30, 490],
  '360p_9': [640, 360, 15, 800], '360p_10': [640, 360, 24, 800], '360p_11': [640, 360, 24, 1000],
  '480p_1': [640, 480, 15, 500], '480p_2': [640, 480, 30, 1000], '480p_3': [480, 480, 15, 400],
  '480p_4': [640, 480, 30, 750], '480p_6': [480, 480, 30, 600], '480p_8': [848, 480, 15, 610],
  '480p_9': [848, 480, 30, 930], '480p_10': [640, 480, 10, 400],
  '720p_1': [1280, 720, 15, 1130], '720p_2': [1280, 720, 30, 2000], '720p_3': [1280, 720, 30, 1710],
  '720p_5': [960, 720, 15, 910], '720p_6': [960, 720, 30, 1380],
});

/** @typedef {{width: number, height: number, frameRate: number, maxBitrate: number}} VideoProfile (maxBitrate in kbps) */

/**
 * Resolves a profile name (`'360p_3'`, or `'480p'` meaning `'480p_1'`) or a custom profile; unknown names
 * fall back to Agora's default, 480p_1.
 * @param {string | VideoProfile | undefined} p
 * @returns {VideoProfile}
 */
function videoProfile(p) {
  if (p && typeof p === 'object') return p;
  const key = p in VIDEO_PROFILES ? p : `${p}_1` in VIDEO_PROFILES ? `${p}_1` : '480p_1';
  if (p && key !== p && key !== `${p}_1`) log.warn(`unknown video profile "${p}", using 480p_1`);
  const [width, height, frameRate, maxBitrate] = VIDEO_PROFILES[key];
  return { width, height, frameRate, maxBitrate };
}

/** @param {VideoProfile} vp @returns {MediaTrackConstraints} */
function videoConstraints(vp) {
  return { width: { ideal: vp.width }, height: { ideal: vp.height }, frameRate: { ideal: vp.frameRate, max: vp.frameRate } };
}

/** Caps the video sender's bitrate and frame rate to a profile's. @param {RTCPeerConnection} pc @param {VideoProfile} vp */
async function applySenderProfile(pc, vp) {
  const sender = pc.getSenders().find((s) => s.track?.kind === 'video');
  if (!sender) return;
  const params = sender.getParameters();
  if (!params.encodings?.length) return;
  for (const e of params.encodings) {
    e.maxBitrate = vp.maxBitrate * 1000;
    e.maxFramerate = vp.frameRate;
  }
  await sender.setParameters(params);
}

/**
 * Puts the chosen video codec first in the transceiver's preferences, like Agora's `codec` option; the server
 * answers with the first one it supports. For H264 the constrained-baseline, packetization-mode=1 variant goes
 * first: it is what Safari and hardware encoders on phones do best.
 * @param {RTCRtpTransceiver} transceiver @param {string} [codec] 'vp8' | 'h264' | 'vp9'
 */
function preferCodec(transceiver, codec) {
  if (!codec || typeof transceiver.setCodecPreferences !== 'function') return;
  const caps = (globalThis.RTCRtpReceiver?.getCapabilities?.('video') ?? globalThis.RTCRtpSender?.getCapabilities?.('video'))?.codecs;
  if (!caps) return;
  const mime = `video/${codec}`.toLowerCase();
  const rank = (c) => {
    if (c.mimeType.toLowerCase() !== mime) return 2;
    if (mime !== 'video/h264') return 0;
    const fmtp = c.sdpFmtpLine ?? '';
    return /packetization-mode=1/.test(fmtp) && /profile-level-id=42e01f/i.test(fmtp) ? 0 : 1;
  };
  const sorted = [...caps].sort((a, b) => rank(a) - rank(b));
  if (rank(sorted[0]) === 2) {
    log.warn(`this browser cannot send ${codec}; the server picks another codec`);
    return;
  }
  try { transceiver.setCodecPreferences(sorted); } catch (err) { log.warn('setCodecPreferences failed', err); }
}

/* ------------------------------------------------------------------ the core: Room */

const PING_MS = 5000; // keepalive period; also how often `rtt` is refreshed
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
 * @typedef {object} PublishOptions
 * @property {boolean|MediaTrackConstraints} [audio] capture audio (default true)
 * @property {boolean} [video] capture video (default true)
 * @property {'vp8'|'h264'} [codec]
 * @property {string|VideoProfile} [profile]
 * @property {boolean} [audioMuted] start muted
 * @property {boolean} [videoMuted]
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
 * `token-expired`, `reconnecting`, `reconnected`, `state` {prev, state}, `left`, `error` {code, message, fatal}.
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
      const tr = entry.pc.addTransceiver(track, {
        direction: 'sendonly', streams: [stream],
        sendEncodings: isVideo ? [{ maxBitrate: vp.maxBitrate * 1000, maxFramerate: vp.frameRate }] : undefined,
      });
      if (isVideo) preferCodec(tr, opts.codec);
    }
    try {
      const offer = await entry.pc.createOffer();
      await entry.pc.setLocalDescription(offer);
      // The reply is an `answer`; #onAnswer applies it before this request resolves.
      await this.#request({ type: 'publish', sdp: offer.sdp, audioMuted: muted.audio, videoMuted: muted.video });
    } catch (err) {
      if (this.#pub === entry) this.#pub = null;
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
        break;
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

  /** Pings every PING_MS (each pong refreshes `rtt`); checks every second whether a ping went unanswered for
   * SILENCE_MS, which on a phone changing networks is how a dead socket shows long before the browser closes it. */
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
      if (now - this.#pingSentAt < PING_MS) return;
      this.#pingSentAt = now;
      if (this.#send({ type: 'ping', t: now }) && !this.#unansweredSince) this.#unansweredSince = now;
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

/* ------------------------------------------------------------------ stats */

/**
 * Agora's stream statistics (strings, as Agora gives them) from a PeerConnection's getStats().
 * @param {RTCPeerConnection|null} pc @param {boolean} local
 */
async function streamStats(pc, local) {
  const out = {};
  if (!pc) return out;
  const report = await pc.getStats();
  let rtt = 0;
  report.forEach((s) => {
    const kind = s.kind ?? s.mediaType;
    const dir = `${kind === 'audio' ? 'audio' : 'video'}${local ? 'Send' : 'Receive'}`;
    if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime != null) rtt = s.currentRoundTripTime * 1000;
    if (local && s.type === 'outbound-rtp') {
      Object.assign(out, { [`${dir}Bytes`]: String(s.bytesSent ?? 0), [`${dir}Packets`]: String(s.packetsSent ?? 0) });
    } else if (local && s.type === 'remote-inbound-rtp') {
      out[`${dir}PacketsLost`] = String(s.packetsLost ?? 0);
    } else if (!local && s.type === 'inbound-rtp') {
      Object.assign(out, { [`${dir}Bytes`]: String(s.bytesReceived ?? 0), [`${dir}Packets`]: String(s.packetsReceived ?? 0),
        [`${dir}PacketsLost`]: String(s.packetsLost ?? 0) });
      if (s.jitterBufferEmittedCount) out[`${dir}Delay`] = String(Math.round(1000 * s.jitterBufferDelay / s.jitterBufferEmittedCount));
      if (kind === 'video') out.videoReceiveDecodeFrameRate = String(s.framesPerSecond ?? 0);
    }
    if ((s.type === 'outbound-rtp' || s.type === 'inbound-rtp') && kind === 'video') {
      out[`${dir}FrameRate`] = String(s.framesPerSecond ?? 0);
      if (s.frameWidth) Object.assign(out, { [`${dir}ResolutionWidth`]: String(s.frameWidth), [`${dir}ResolutionHeight`]: String(s.frameHeight) });
    }
  });
  out.accessDelay = String(Math.round(rtt));
  if (!local) out.endToEndDelay = String(Math.round(rtt / 2 + Number(out.videoReceiveDelay ?? 0)));
  return out;
}

/* ------------------------------------------------------------------ Agora face: Stream */

/** @type {WeakMap<Stream, Room>} local Streams and the Room each is published on */
const publishedOn = new WeakMap();

/**
 * @typedef {object} StreamSpec
 * @property {number|string} [streamID] the uid, as Agora asks
 * @property {boolean} [audio] @property {boolean} [video] @property {boolean} [screen] @property {boolean} [screenAudio]
 * @property {MediaStream} [mediaStream] publish this stream instead of capturing one
 * @property {MediaStreamTrack} [audioSource] @property {MediaStreamTrack} [videoSource]
 * @property {string} [cameraId] @property {string} [microphoneId] @property {'user'|'environment'} [facingMode]
 */

/**
 * An Agora-shaped stream: local (from createStream) or remote (from `stream-added`). Events (`stream.on`):
 * `accessAllowed`, `accessDenied`, `player-status-change`, `audioTrackEnded`, `videoTrackEnded`.
 */
export class Stream extends Emitter {
  /** @type {MediaStream|null} */
  mediaStream = null;
  /** @type {StreamInfo|null} a remote stream's description from the server */
  info = null;
  #spec;
  #id;
  /** @type {Room|null} a remote stream's room */
  #room = null;
  #profile = videoProfile('480p_1');
  #muted = { audio: false, video: false };
  /** @type {{box: HTMLElement, video: HTMLVideoElement, audio: HTMLAudioElement|null}|null} */
  #player = null;

  /** @param {StreamSpec} spec @param {{room: Room, info: StreamInfo}} [remote] (internal) */
  constructor(spec = {}, remote) {
    super();
    this.#spec = { audio: true, video: true, ...spec };
    this.local = !remote;
    if (remote) {
      this.info = remote.info;
      this.#room = remote.room;
    }
    this.#id = spec.streamID ?? (remote ? agoraUid(remote.info.uid) : undefined);
    this.mediaStream = spec.mediaStream ?? null;
  }

  getId() { return this.#id; }

  /** The RTCPeerConnection carrying this stream: the pub PC for a published local stream, the sub PC for a remote one. */
  get pc() {
    return this.local ? publishedOn.get(this)?.pubPC ?? null : this.#room?.subPC(this.info.uid) ?? null;
  }

  /** The profile the next capture or publish uses. @returns {VideoProfile} */
  get videoProfile() { return this.#profile; }

  /** Captures the camera and microphone (or screen); fires `accessAllowed` or `accessDenied`. */
  init(ok, err) {
    if (!this.local) { later(err, { type: 'error', msg: 'INVALID_OPERATION', info: 'remote streams need no init' }); return; }
    this.#capture().then((ms) => {
      this.mediaStream = ms;
      for (const t of ms.getTracks()) t.addEventListener('ended', () => this.emit(`${t.kind}TrackEnded`, {}));
      this.emit('accessAllowed', { type: 'accessAllowed' });
      ok?.();
    }, (e) => {
      const msg = e?.name ?? 'UNDEFINED';
      if (msg === 'NotAllowedError' || msg === 'SecurityError') this.emit('accessDenied', { type: 'accessDenied' });
      err?.({ type: 'error', msg, info: e?.message ?? null });
    });
  }

  async #capture() {
    const s = this.#spec;
    if (s.mediaStream) return s.mediaStream;
    if (s.audioSource || s.videoSource) return new MediaStream([s.audioSource, s.videoSource].filter(Boolean));
    const md = navigator.mediaDevices;
    if (!md) throw Object.assign(new Error('no media devices here (is the page on https?)'), { name: 'NOT_SUPPORTED' });
    const audio = s.audio ? (s.microphoneId ? { deviceId: { exact: s.microphoneId } } : true) : false;
    if (s.screen) {
      const screen = await md.getDisplayMedia({ video: true, audio: !!s.screenAudio });
      if (audio) for (const t of (await md.getUserMedia({ audio })).getAudioTracks()) screen.addTrack(t);
      return screen;
    }
    const video = s.video && {
      ...videoConstraints(this.#profile),
      ...(s.cameraId && { deviceId: { exact: s.cameraId } }),
      ...(s.facingMode && { facingMode: s.facingMode }),
    };
    return md.getUserMedia({ audio, video });
  }

  /** @param {string} profile one of VIDEO_PROFILES, e.g. '360p_3' */
  setVideoProfile(profile) {
    this.#profile = videoProfile(profile);
    const room = publishedOn.get(this);
    const done = room ? room.setVideoProfile(this.#profile) : this.getVideoTrack()?.applyConstraints(videoConstraints(this.#profile));
    Promise.resolve(done).catch((e) => log.warn('setVideoProfile', e));
  }

  /** @param {{resolution?: {width: number, height: number}, frameRate?: {min: number, max: number}, bitrate?: {min: number, max: number}}} cfg */
  setVideoEncoderConfiguration(cfg) {
    const p = this.#profile;
    this.setVideoProfile(/** @type {any} */ ({
      width: cfg.resolution?.width ?? p.width, height: cfg.resolution?.height ?? p.height,
      frameRate: cfg.frameRate?.min ?? p.frameRate, maxBitrate: cfg.bitrate?.max ?? p.maxBitrate,
    }));
  }

  /**
   * Plays the stream in the element with that id: a `<video autoplay playsinline muted>` (and, for a remote
   * stream, an `<audio>`) inside a `div#player_<id>`. cb(null) once playing, cb({status, reason}) if the
   * browser blocked it (`status: 'paused'`: call resume() from a user gesture) or it was removed first ('aborted').
   * @param {string} elementId @param {{fit?: 'cover'|'contain', muted?: boolean}} [option] @param {(err: any) => void} [cb]
   */
  play(elementId, option, cb) {
    if (typeof option === 'function') [option, cb] = [undefined, option];
    const opts = { fit: 'cover', muted: false, ...option };
    const parent = document.getElementById(elementId);
    if (!parent || !this.mediaStream) {
      later(cb, { status: 'aborted', reason: parent ? 'no media yet' : `no element #${elementId}` });
      return;
    }
    this.stop();
    const box = document.createElement('div');
    box.id = `player_${this.#id}`;
    box.style.cssText = 'width:100%;height:100%;position:relative;overflow:hidden;background:#000';
    const video = document.createElement('video');
    video.autoplay = video.playsInline = video.muted = true;
    video.setAttribute('playsinline', '');
    video.setAttribute('muted', '');
    video.style.cssText = `width:100%;height:100%;display:block;object-fit:${opts.fit}`;
    video.srcObject = this.mediaStream;
    box.append(video);
    let audio = null;
    if (!this.local) {
      audio = document.createElement('audio');
      audio.autoplay = true;
      audio.muted = !!opts.muted;
      audio.srcObject = this.mediaStream;
      box.append(audio);
    }
    parent.append(box);
    this.#player = { box, video, audio };
    this.#startPlayback().then(() => cb?.(null), (e) => cb?.(e));
  }

  #startPlayback() {
    const p = this.#player;
    if (!p) return Promise.reject({ status: 'aborted', reason: 'not playing' });
    return Promise.all([p.video, p.audio].filter(Boolean).map((el) => el.play())).then(() => {
      this.emit('player-status-change', { status: 'play', reason: 'playing', isErrorState: false });
    }, (e) => {
      const err = { status: e?.name === 'AbortError' ? 'aborted' : 'paused', reason: e?.name === 'NotAllowedError' ? 'error' : e?.name ?? 'error', isErrorState: true };
      this.emit('player-status-change', err);
      throw err;
    });
  }

  /** Retries playback after the browser's autoplay policy blocked it; call from a user gesture. */
  resume() { return this.#startPlayback(); }

  /** Removes the player elements; the stream itself goes on. */
  stop() {
    const p = this.#player;
    if (!p) return;
    this.#player = null;
    for (const el of [p.video, p.audio]) if (el) { el.pause(); el.srcObject = null; }
    p.box.remove();
  }

  /** Stops playing and, for a local stream, releases the camera and microphone. */
  close() {
    this.stop();
    if (this.local) this.mediaStream?.getTracks().forEach((t) => t.stop());
  }

  isPlaying() { return !!this.#player; }
  hasAudio() { return this.#has('audio'); }
  hasVideo() { return this.#has('video'); }

  #has(kind) {
    if (!this.local) return !!this.info?.[kind];
    return this.mediaStream ? this.mediaStream.getTracks().some((t) => t.kind === kind) : !!this.#spec[kind];
  }

  getAudioTrack() { return this.mediaStream?.getAudioTracks()[0]; }
  getVideoTrack() { return this.mediaStream?.getVideoTracks()[0]; }

  /** Local: stop sending audio (the others get mute-audio). Remote: stop playing it. False if already muted. */
  muteAudio() { return this.#setMuted('audio', true); }
  unmuteAudio() { return this.#setMuted('audio', false); }
  muteVideo() { return this.#setMuted('video', true); }
  unmuteVideo() { return this.#setMuted('video', false); }
  enableAudio() { return this.unmuteAudio(); }
  disableAudio() { return this.muteAudio(); }
  enableVideo() { return this.unmuteVideo(); }
  disableVideo() { return this.muteVideo(); }

  /** Whether muteAudio()/muteVideo() is in effect. */
  get muted() { return { ...this.#muted }; }

  #setMuted(kind, muted) {
    if (!this.#has(kind) || this.#muted[kind] === muted) return false;
    this.#muted[kind] = muted;
    for (const t of this.mediaStream?.getTracks() ?? []) if (t.kind === kind) t.enabled = !muted;
    publishedOn.get(this)?.mute(kind, muted).catch((e) => log.warn(`mute ${kind}`, e));
    return true;
  }

  /** (internal) A remote stream's media arrived: take it, honouring mutes and subscribe options made before. */
  attachMedia(mediaStream, options) {
    this.mediaStream = mediaStream;
    for (const t of mediaStream.getTracks()) t.enabled = !this.#muted[t.kind] && options?.[t.kind] !== false;
  }

  /** @param {(stats: object) => void} cb Agora's LocalStreamStats or RemoteStreamStats */
  getStats(cb) {
    streamStats(this.pc, this.local).then(cb, (e) => { log.warn('getStats', e); cb({}); });
  }
}

/* ------------------------------------------------------------------ Agora face: Client */

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
 * reconnect, rejoin, error.
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

  /** @param {{mode?: 'rtc'|'live', codec?: 'vp8'|'h264', server?: string}} [config] */
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
    room.publish(stream.mediaStream, { codec: this.config.codec, profile: stream.videoProfile, audioMuted, videoMuted }).then(() => {
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
}

/* ------------------------------------------------------------------ module API */

/** @param {{mode?: 'rtc'|'live', codec?: 'vp8'|'h264', server?: string}} config */
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

/** The default export: Agora's AgoraRTC object shape plus the promise API (`Stoa.join`). */
const Stoa = {
  VERSION, Logger, VIDEO_PROFILES, createClient, createStream, checkSystemRequirements, getDevices,
  join, Room, Client, Stream, StoaError,
};
export default Stoa;
