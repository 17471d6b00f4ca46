/**
 * The Agora Web SDK 2.x/3.x-shaped `Stream` (createStream, or a remote one from `stream-added`): it captures,
 * plays, mutes and reports stats the way Agora's does. agora.js's Client publishes and subscribes them; the two
 * share the helpers at the top (Agora's asynchronous callbacks, numeric uids) and `publishedOn`.
 */

import { log } from './log.js';
import { videoProfile, videoConstraints } from './profiles.js';
import { Emitter } from './core.js';

/**
 * @typedef {import('./profiles.js').VideoProfile} VideoProfile
 * @typedef {import('./core.js').StreamInfo} StreamInfo
 * @typedef {import('./core.js').Room} Room
 */

/** Calls an Agora-style callback asynchronously, as Agora does, if there is one. */
export function later(fn, ...args) {
  if (typeof fn === 'function') setTimeout(() => fn(...args), 0);
}

/** Uids are strings on the wire; Agora apps get a number back when the uid is a 32-bit unsigned integer. */
export function agoraUid(uid) {
  return /^(0|[1-9]\d{0,9})$/.test(uid) && Number(uid) <= 0xffffffff ? Number(uid) : uid;
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
export const publishedOn = new WeakMap();

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
