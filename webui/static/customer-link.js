// The customer's flow from a call link (/call?call=ID&token=T, made by POST /api/calls; docs/call-center.md):
// pre-join (camera preview and device choice) → "Start video call" asks for the call (POST …/request, with the
// device) → the queue with its position (the call's event stream) → answered: join room call-ID with the link's
// token → in call → ended. Nobody answering in time, cancelling, hanging up, a refused camera and a lost connection
// each end on a screen that says what happened and offers the way on.
import { hooks } from './page.js';
import { go, retitle, showNotice, wireControls, resetToggles, markToggle } from './customer-ui.js';
import { capture, playLocal, release, capturing, listDevices, fillSelect, devicesOf, deviceInfo, networkInfo } from './customer-media.js';
import { joinRoom } from './customer-room.js';
import { watchCall } from './customer-events.js';
import { explain, isMediaError } from './customer-errors.js';

const $ = (id) => document.getElementById(id);

/** What the agent's outcome means to the customer. */
const OUTCOMES = {
  resolved: 'Your agent marked your claim call as resolved.',
  'follow-up': 'Your agent will get back to you about your claim.',
  'no-show': 'The call was closed.',
  dropped: 'The call was closed after the connection dropped.',
  other: '',
};

/**
 * Runs the call link's flow. @param {{id: string, token: string, params: URLSearchParams, logger: any}} o
 */
export function startCallLink({ id, token, params, logger }) {
  const roomName = `call-${id}`;
  const uid = `customer-${id}`;
  const profile = params.get('profile') ?? '480p_1';
  /** @type {any} the captured local Stream: the preview, then the call's publication */
  let preview = null;
  /** @type {ReturnType<typeof joinRoom>|null} */
  let room = null;
  let agent = '';
  let requested = false; // this page asked for the call, so an answer joins it
  let requesting = false; // request() is under way: the camera it captures is wanted whatever the state
  hooks.call = { id, position: 0, agent: '', outcome: '' };

  const api = async (action, body) => {
    const res = await fetch(`/api/calls/${encodeURIComponent(id)}/${action}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify(body ?? {}),
    }).catch(() => null);
    if (!res) return { ok: false, status: 0, body: { code: 'network' } };
    return { ok: res.ok, status: res.status, body: await res.json().catch(() => ({})) };
  };

  /* ---------------- the camera */

  /** @type {Promise<boolean>|null} a capture under way: one at a time */
  let previewing = null;

  /** Captures (again) with the chosen devices and shows the self-view; false if the camera failed (the page says why). */
  function startPreview(ids) {
    const p = (previewing ?? Promise.resolve()).then(() => showPreview(ids));
    previewing = p;
    p.finally(() => { if (previewing === p) previewing = null; });
    return p;
  }

  async function showPreview(ids) {
    preview?.close();
    preview = null;
    try {
      preview = await capture({ streamID: uid, profile, ...ids });
    } catch (err) {
      const e = explain(err);
      logger.error('getUserMedia', { name: e.code, message: err?.info ?? null });
      fail(err, prejoin, 'media');
      return false;
    }
    if (hooks.state !== 'prejoin' && !requesting) { // the page moved on meanwhile (the call ended, the link failed)
      release();
      return false;
    }
    playLocal(preview);
    const { cameras, mics } = await listDevices();
    const now = devicesOf(preview);
    fillSelect($('camera-select'), cameras, now.cameraId, 'Camera');
    fillSelect($('mic-select'), mics, now.microphoneId, 'Microphone');
    logger.info('getUserMedia', { allowed: true, cameras: cameras.length, mics: mics.length, device: deviceInfo(preview) });
    return true;
  }

  function chosenDevices() {
    return { cameraId: $('camera-select').value || undefined, microphoneId: $('mic-select').value || undefined };
  }
  for (const select of [$('camera-select'), $('mic-select')]) {
    select.addEventListener('change', () => {
      logger.info('device-change', { kind: select.id });
      startPreview(chosenDevices());
    });
  }

  /* ---------------- the screens */

  async function prejoin() {
    go('prejoin', {
      title: 'Check your camera and microphone',
      detail: 'Make sure we will see and hear you, then tap Start video call. An agent will answer you.',
      devices: true, start: { label: 'Start video call', run: request },
    });
    logger.info('prejoin', {});
    await startPreview(chosenDevices());
  }

  /** Shows what failed and the way on: retry runs `again` (the camera, the request or the call). */
  function fail(err, again, reason = 'error') {
    const e = explain(err);
    const media = isMediaError(err);
    if (!media) leaveRoom();
    go('error', {
      title: e.title, detail: e.text, code: e.code, reason, devices: media && e.code === 'OverconstrainedError',
      ...(e.way !== 'none' && { retry: { label: e.label, run: e.way === 'reload' ? () => location.reload() : again } }),
    });
  }

  function queued(position) {
    hooks.call.position = position;
    const title = `You are number ${position} in the queue`;
    if (hooks.state === 'queued') { retitle(title); return; }
    go('queued', { title, detail: 'An agent will answer you soon. Please keep this page open.', cancel: { label: 'Cancel', run: cancel } });
  }

  function ended(view) {
    leaveRoom();
    release();
    go('ended', view);
  }

  function endedByAgent(outcome) {
    hooks.call.outcome = outcome ?? '';
    ended({ title: 'The call has ended. Thank you.', detail: OUTCOMES[outcome] ?? '', reason: 'agent' });
  }

  /* ---------------- the call */

  /** Asks for the call: from the pre-join screen, and again after a timeout, a cancel or a hang-up. */
  async function request() {
    requesting = true;
    try {
      await ask();
    } finally {
      requesting = false;
    }
  }

  async function ask() {
    showNotice('');
    if (previewing) await previewing;
    if (!capturing() && !(await startPreview(chosenDevices()))) return;
    requested = true;
    const device = deviceInfo(preview);
    logger.info('request', { device, network: networkInfo() });
    const r = await api('request', { device, network: networkInfo() });
    logger.info('request-reply', { status: r.status, ...r.body });
    if (!r.ok) {
      requested = false;
      if (r.body.code === 'call_ended') ended({ title: 'This call is over', detail: explain('call_ended').text, reason: 'link' });
      else fail(r.body.code ?? 'unknown', request);
      return;
    }
    if (r.body.state === 'answered') join();
    else if (['prejoin', 'ended', 'error'].includes(hooks.state)) queued(r.body.position);
  }

  async function cancel() {
    logger.info('cancel', {});
    const r = await api('cancel');
    if (!r.ok) { // answered meanwhile (its event joins the call), or the network: stay
      logger.warn('cancel-failed', { status: r.status, code: r.body.code });
      if (hooks.state === 'queued') queued(hooks.call.position);
      return;
    }
    requested = false;
    ended({ title: 'You left the queue', detail: 'Tap Call again when you are ready to talk to an agent.', reason: 'cancelled',
      retry: { label: 'Call again', run: request } });
  }

  function join() {
    if (room && !room.ended) return;
    resetToggles();
    go('connecting', { title: 'Connecting you to your agent…', detail: agent ? `${agent} answered your call.` : '' });
    room = joinRoom({
      token, room: roomName, uid, stream: capturing() ? preview : null, profile, agentName: agent || 'Your agent',
      autoAudioOnly: params.get('autoaudioonly') === '1', logger, onNotice: showNotice,
      onState(what, info) {
        if (what === 'in-call') go('in-call', info?.agentHere ? { title: 'In call' } : { title: 'Waiting for your agent to join…' });
        else if (what === 'peer-left') go('peer-left', { title: 'Your agent left the call', detail: 'Please stay on this page: the agent may come back.' });
        else if (what === 'reconnecting') go('reconnecting', { title: 'Reconnecting…', detail: 'Your connection dropped. Please stay on this page.' });
        else if (what === 'lost' || what === 'failed') {
          room = null;
          release();
          fail(info?.code ?? 'session_not_found', request, what);
        }
      },
    });
    room.client.on('audio-only', () => {
      markToggle($('mute-video'), true, 'Camera on', 'Camera off');
      showNotice('Your camera is off to keep the call going on a poor network.', { label: 'Camera on', run: () => { $('mute-video').click(); showNotice(''); } });
    });
  }

  function leaveRoom() {
    room?.leave();
    room = null;
  }

  wireControls({
    toggleAudio: () => room?.toggleAudio() ?? null,
    toggleVideo: () => room?.toggleVideo() ?? null,
    hangup() {
      logger.info('hangup', {});
      ended({ title: 'You left the call', detail: 'If you still need to talk to your agent, tap Rejoin.', reason: 'hangup',
        retry: { label: 'Rejoin', run: request } });
    },
  });

  /* ---------------- what the server says about the call */

  const events = watchCall(id, token, {
    event(name, data) {
      logger.info(`event-${name}`, data);
      switch (name) {
        case 'position':
          if (hooks.state === 'queued') queued(data.position);
          break;
        case 'answered':
          agent = data.agent ?? '';
          hooks.call.agent = agent;
          logger.set({ staff: agent });
          if (requested && ['queued', 'prejoin'].includes(hooks.state)) join();
          break;
        case 'timeout':
          if (hooks.state !== 'queued') break;
          requested = false;
          ended({ title: 'Nobody answered in time', detail: data.message || 'Please try again in a few minutes.', reason: 'timeout',
            retry: { label: 'Try again', run: request } });
          break;
        case 'audio-only': // the agent asks the page to go on with voice (POST /api/calls/{id}/audio-only)
          if (!room) break;
          if ($('mute-video').getAttribute('aria-pressed') !== 'true') $('mute-video').click(); // not muted yet
          showNotice('Your agent turned your camera off to keep the call going on a poor network.',
            { label: 'Camera on', run: () => { $('mute-video').click(); showNotice(''); } });
          break;
        case 'ended':
          requested = false;
          if (data.outcome !== 'cancelled') endedByAgent(data.outcome);
          else if (hooks.state === 'queued') {
            ended({ title: 'You left the queue', detail: 'Tap Call again when you are ready to talk to an agent.', reason: 'cancelled',
              retry: { label: 'Call again', run: request } });
          }
          break;
      }
    },
    fatal(code, status) {
      logger.error('events-refused', { code, status });
      release();
      fail(code, () => location.reload(), 'link');
    },
    lost() {
      logger.warn('events-lost', {});
      if (hooks.state === 'queued') retitle($('status').textContent, 'Reconnecting to the queue… Please keep this page open.');
    },
    open() {
      if (hooks.state === 'queued') retitle($('status').textContent, 'An agent will answer you soon. Please keep this page open.');
    },
  });
  addEventListener('pagehide', () => events.close());

  logger.info('page', { mode: 'call', call: id, device: deviceInfo(null), network: networkInfo() });
  prejoin();
}
