// The customer's page as a state machine: one state at a time, one status line that says it, the buttons that
// state offers, and the test hooks (window.__stoa.state, document.body.dataset.state). The flows (customer-queue.js
// for a call link, customer-direct.js for a room) move it; nothing else writes the status.
import { hooks, showNotice } from './page.js';

export { showNotice }; // the customer's modules take it from here

/**
 * The states and where each may go.
 * - no-link: a bare /call: nothing to join, say how to get a link
 * - idle: a room link with autojoin=0, before Join
 * - prejoin: camera preview and device choice, before "Start video call"
 * - queued: waiting for an agent, with the place in the queue
 * - connecting: joining the call's room
 * - in-call, peer-left, reconnecting: in the room (peer-left: the other side went; reconnecting: the socket dropped)
 * - ended: over (the agent ended it, the customer hung up or cancelled, or nobody answered in time)
 * - error: it failed, with what to do
 */
const NEXT = {
  loading: ['no-link', 'idle', 'prejoin', 'connecting', 'ended', 'error'],
  'no-link': [],
  idle: ['connecting', 'error'],
  prejoin: ['queued', 'connecting', 'ended', 'error'],
  queued: ['connecting', 'ended', 'error'],
  connecting: ['in-call', 'peer-left', 'reconnecting', 'ended', 'error'],
  'in-call': ['peer-left', 'reconnecting', 'ended', 'error'],
  'peer-left': ['in-call', 'reconnecting', 'ended', 'error'],
  reconnecting: ['in-call', 'peer-left', 'ended', 'error'],
  ended: ['prejoin', 'queued', 'connecting', 'error'],
  error: ['prejoin', 'queued', 'connecting', 'ended', 'idle'],
};

/** The states in which the page is in a room: the call controls show, the self-view is small. */
export const IN_ROOM = ['connecting', 'in-call', 'peer-left', 'reconnecting'];

const $ = (id) => document.getElementById(id);

hooks.state = 'loading'; // page.js starts it at 'idle', which on this page is a state of its own

/** @type {import('/sdk/logger.js').ClientLogger|null} */
let logger = null;

/** The page's client logger, told of every state change. @param {any} l */
export function useLogger(l) { logger = l; hooks.logger = l; }

/**
 * @typedef {{label: string, run: () => void}} Action
 * @typedef {object} View what a state shows
 * @property {string} title the status line
 * @property {string} [detail] a sentence under it
 * @property {string} [code] an error code, shown small under the sentence
 * @property {Action} [start] the pre-join screen's "Start video call"
 * @property {Action} [retry] "Try again", "Call again", "Rejoin"…
 * @property {Action} [cancel] "Cancel" while queued
 * @property {boolean} [devices] show the camera and microphone choice
 * @property {string} [reason] why the state was entered (ended: 'agent', 'hangup', 'cancelled', 'timeout', 'link'),
 *   kept as document.body.dataset.reason and window.__stoa.reason
 */

/**
 * Moves to state and shows view. A move the table does not allow is logged and refused (returns false), so a late
 * event (a position after the call was answered) cannot drag the page back. The same state again re-renders.
 * @param {string} state @param {View} view
 */
export function go(state, view) {
  const from = hooks.state ?? 'loading';
  if (from !== state && !(NEXT[from] ?? []).includes(state)) {
    logger?.debug('state-refused', { from, to: state });
    return false;
  }
  hooks.state = state;
  hooks.reason = view.reason ?? '';
  document.body.dataset.state = state;
  document.body.dataset.room = IN_ROOM.includes(state) ? 'yes' : 'no';
  document.body.dataset.reason = view.reason ?? '';
  $('status').textContent = view.title;
  const detail = $('detail');
  detail.textContent = view.detail ?? '';
  detail.hidden = !view.detail;
  const code = $('error-code');
  code.textContent = view.code ? `Error code: ${view.code}` : '';
  code.hidden = !view.code;
  for (const name of ['start', 'retry', 'cancel']) {
    const button = $(name);
    const action = view[name];
    button.hidden = !action;
    if (action) {
      button.querySelector('.label').textContent = action.label;
      button.disabled = false;
      button.onclick = () => { button.disabled = true; action.run(); };
    }
  }
  $('devices').hidden = !view.devices;
  $('panel').hidden = false;
  if (from !== state) logger?.info('state', { from, to: state, reason: view.reason || undefined, title: view.title });
  return true;
}

/** Changes the status line without changing state (the queue position, "In call" once the agent is there). */
export function retitle(title, detail) {
  $('status').textContent = title;
  if (detail !== undefined) {
    $('detail').textContent = detail;
    $('detail').hidden = !detail;
  }
}


/** Mirrors a toggle's state on its button (aria-pressed and label). */
export function markToggle(button, pressed, onLabel, offLabel) {
  if (pressed == null) return;
  button.setAttribute('aria-pressed', String(pressed));
  button.querySelector('.label').textContent = pressed ? onLabel : offLabel;
}

/** The call controls: mute, camera, hang up (and Join in a room link). @param {{toggleAudio: () => boolean|null,
 * toggleVideo: () => boolean|null, hangup: () => void, join?: () => void}} c */
export function wireControls(c) {
  $('mute-audio').onclick = () => markToggle($('mute-audio'), c.toggleAudio(), 'Unmute', 'Mute');
  $('mute-video').onclick = () => markToggle($('mute-video'), c.toggleVideo(), 'Camera on', 'Camera off');
  $('hangup').onclick = () => c.hangup();
  $('answer').onclick = () => c.join?.();
}

/** Resets the mute buttons for a new call. */
export function resetToggles() {
  markToggle($('mute-audio'), false, 'Unmute', 'Mute');
  markToggle($('mute-video'), false, 'Camera on', 'Camera off');
}
