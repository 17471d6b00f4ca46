// The customer's camera and microphone: capture (with the chosen devices), the self-view, the device lists, and
// release. Every track the page ever captured is kept in window.__stoa.capturedTracks, so release() can stop all of
// them (a preview replaced by a device change included) and a test can check that none is left live.
import AgoraRTC from '/sdk/stoa.js';
import { hooks } from './page.js';

hooks.localStream = null;
/** @type {MediaStreamTrack[]} */
hooks.capturedTracks = [];

/**
 * Captures the camera and microphone as an Agora-shaped local Stream and remembers it as window.__stoa.localStream.
 * Rejects with the SDK's error ({msg: the DOMException's name, info}), which customer-errors.js explains.
 * @param {{streamID?: string|number, cameraId?: string, microphoneId?: string, profile?: string}} o
 */
export function capture(o = {}) {
  const stream = AgoraRTC.createStream({
    streamID: o.streamID ?? 'self', audio: true, video: true, screen: false,
    ...(o.cameraId && { cameraId: o.cameraId }), ...(o.microphoneId && { microphoneId: o.microphoneId }),
  });
  stream.setVideoProfile(o.profile ?? '480p_1');
  return new Promise((resolve, reject) => {
    stream.init(() => {
      hooks.capturedTracks.push(...stream.mediaStream.getTracks());
      hooks.localStream = stream;
      resolve(stream);
    }, reject);
  });
}

/** Plays the own camera in #local (muted, cover: it is only a self-view). @param {any} stream */
export function playLocal(stream) {
  stream.play('local', { fit: 'cover', muted: true });
  const video = document.querySelector('#local video');
  if (video) video.id = 'local-video';
}

/** Stops every captured track and clears the self-view: the camera light goes off. */
export function release() {
  for (const t of hooks.capturedTracks) t.stop();
  hooks.localStream?.close();
  document.getElementById('local').replaceChildren();
}

/** Whether some captured track still runs. */
export function capturing() {
  return hooks.capturedTracks.some((t) => t.readyState === 'live');
}

/** The cameras and microphones the browser lists (with names once the page has had permission). */
export async function listDevices() {
  const all = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
  return {
    cameras: all.filter((d) => d.kind === 'videoinput' && d.deviceId),
    mics: all.filter((d) => d.kind === 'audioinput' && d.deviceId),
  };
}

/** Fills a <select> with devices, the one in use selected. @param {HTMLSelectElement} select
 * @param {MediaDeviceInfo[]} devices @param {string|undefined} current @param {string} noun */
export function fillSelect(select, devices, current, noun) {
  select.replaceChildren(...devices.map((d, i) => {
    const option = document.createElement('option');
    option.value = d.deviceId;
    option.textContent = d.label || `${noun} ${i + 1}`;
    return option;
  }));
  if (current && devices.some((d) => d.deviceId === current)) select.value = current;
  select.disabled = devices.length < 2;
}

/** The device ids a stream captures from. @param {any} stream */
export function devicesOf(stream) {
  return {
    cameraId: stream?.getVideoTrack()?.getSettings?.().deviceId,
    microphoneId: stream?.getAudioTrack()?.getSettings?.().deviceId,
  };
}

/** What the call's record keeps about the customer's device, and what the consoles show while it rings. */
export function deviceInfo(stream) {
  const video = stream?.getVideoTrack();
  const s = video?.getSettings?.() ?? {};
  return {
    ua: navigator.userAgent,
    platform: navigator.userAgentData?.platform || navigator.platform || '',
    mobile: navigator.userAgentData?.mobile ?? /Mobi|Android|iPhone|iPad/.test(navigator.userAgent),
    screen: `${screen.width}x${screen.height}`,
    viewport: `${innerWidth}x${innerHeight}`,
    pixelRatio: devicePixelRatio,
    language: navigator.language,
    camera: video?.label ?? '',
    microphone: stream?.getAudioTrack()?.label ?? '',
    video: s.width ? `${s.width}x${s.height}@${Math.round(s.frameRate ?? 0)}` : '',
  };
}

/** What the page knows of its network before the call (navigator.connection, where there is one). */
export function networkInfo() {
  const c = navigator.connection;
  if (!c) return { online: navigator.onLine };
  return { online: navigator.onLine, type: c.type, effectiveType: c.effectiveType, downlink: c.downlink, rtt: c.rtt, saveData: c.saveData };
}
