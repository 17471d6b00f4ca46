/**
 * Video profiles and codecs: Agora's VIDEO_PROFILES table (re-exported by stoa.js), the resolution of a profile
 * name into capture constraints and sender caps, and the codec preference applied when publishing. Used by the
 * core's Room.publish() and by the Agora face's Stream.
 */

import { log } from './log.js';

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
export function videoProfile(p) {
  if (p && typeof p === 'object') return p;
  const key = p in VIDEO_PROFILES ? p : `${p}_1` in VIDEO_PROFILES ? `${p}_1` : '480p_1';
  if (p && key !== p && key !== `${p}_1`) log.warn(`unknown video profile "${p}", using 480p_1`);
  const [width, height, frameRate, maxBitrate] = VIDEO_PROFILES[key];
  return { width, height, frameRate, maxBitrate };
}

/** @param {VideoProfile} vp @returns {MediaTrackConstraints} */
export function videoConstraints(vp) {
  return { width: { ideal: vp.width }, height: { ideal: vp.height }, frameRate: { ideal: vp.frameRate, max: vp.frameRate } };
}

/**
 * @typedef {{width?: number, height?: number, framerate?: number, bitrate?: number}} LowStreamParameter Agora's
 *   setLowStreamParameter: the low stream's size (both or neither), frame rate and bitrate in kbps
 */

/**
 * The simulcast encodings of a dual-stream publication (Agora's enableDualStream): `h` as the profile says, and
 * `l` scaled down from the captured size (settings: the track's) to the low stream's size, by default half the
 * width and height at a quarter of the bitrate (at least Agora's low-stream 50 kbps). `h` comes first: a browser
 * or server that does not do simulcast sends the first encoding only, and the camera's full picture is the one
 * to keep; the server orders layers by rid, not by position.
 * @param {VideoProfile} vp @param {LowStreamParameter} [low] @param {{width?: number, height?: number}} [settings]
 * @returns {RTCRtpEncodingParameters[]}
 */
export function dualStreamEncodings(vp, low = {}, settings = {}) {
  const width = settings.width || vp.width;
  const height = settings.height || vp.height;
  const scale = low.width > 0 && low.height > 0 ? Math.max(1, width / low.width, height / low.height) : 2;
  const kbps = low.bitrate > 0 ? low.bitrate : Math.max(50, Math.round(vp.maxBitrate / 4));
  const fps = low.framerate > 0 ? Math.min(low.framerate, vp.frameRate) : vp.frameRate;
  return [
    { rid: 'h', scaleResolutionDownBy: 1, maxBitrate: vp.maxBitrate * 1000, maxFramerate: vp.frameRate },
    { rid: 'l', scaleResolutionDownBy: scale, maxBitrate: kbps * 1000, maxFramerate: fps },
  ];
}

/** Caps the video sender's bitrate and frame rate to a profile's. @param {RTCPeerConnection} pc @param {VideoProfile} vp */
export async function applySenderProfile(pc, vp) {
  const sender = pc.getSenders().find((s) => s.track?.kind === 'video');
  if (!sender) return;
  const params = sender.getParameters();
  if (!params.encodings?.length) return;
  for (const e of params.encodings) {
    if (e.rid === 'l') { // a dual stream's low layer keeps its own caps, under the new frame rate
      e.maxFramerate = Math.min(e.maxFramerate ?? vp.frameRate, vp.frameRate);
      continue;
    }
    e.maxBitrate = vp.maxBitrate * 1000;
    e.maxFramerate = vp.frameRate;
  }
  await sender.setParameters(params);
}

/**
 * Sends only the simulcast layers whose rid is in rids (the server's `layers`: those somebody watches, and
 * always the highest) and pauses the others. Encodings without a rid, or a list naming none of them, are left
 * as they are: a publication is never switched off entirely.
 * @param {RTCPeerConnection} pc @param {string[]} rids
 */
export async function setActiveLayers(pc, rids) {
  const sender = pc.getSenders().find((s) => s.track?.kind === 'video');
  const params = sender?.getParameters();
  const encodings = params?.encodings ?? [];
  if (!encodings.some((e) => e.rid && rids.includes(e.rid))) return;
  let changed = false;
  for (const e of encodings) {
    if (!e.rid) continue;
    const active = rids.includes(e.rid);
    changed ||= e.active !== active;
    e.active = active;
  }
  if (changed) await sender.setParameters(params);
}

/**
 * Puts the chosen video codec first in the transceiver's preferences, like Agora's `codec` option; the server
 * answers with the first one it supports. For H264 the constrained-baseline, packetization-mode=1 variant goes
 * first: it is what Safari and hardware encoders on phones do best.
 * @param {RTCRtpTransceiver} transceiver @param {string} [codec] 'vp8' | 'h264' | 'vp9'
 */
export function preferCodec(transceiver, codec) {
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
