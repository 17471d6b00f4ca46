// The console's answered call (docs/call-center.md): answer → the call's room with the room token the server
// gives → a timer and the claim under way → hang up with an outcome (POST /api/calls/{id}/end). The seed's
// long-call guard: after longCallMs (calls.long_call, 30 min) the console asks whether to go on, and without an
// answer within graceMs (30 s) it hangs up by itself and files the call as "other".
import { hooks, setState } from './page.js';
import { api, explain } from './agent-errors.js';
import { devMode, mintRoomToken } from './agent-auth.js';
import { describeDevice, describeNetwork, clock, duration, OUTCOME_WORDS } from './calls-format.js';

const $ = (id) => document.getElementById(id);
const GUARD_NOTE = 'Ended by the long-call guard: nobody answered "continue the call?".';

/**
 * @param {{desk: {token: () => string, uid: () => string}, clientLog: {logger: any}, logLine: (name: string, detail?: string) => void,
 *   notice: (text: string, action?: {label: string, run: () => void}) => void,
 *   join: (o: {room: string, uid: string, token: string, renew: (room: string, uid: string) => Promise<string|null>}) => any,
 *   leave: () => void, onChange: () => void}} o
 *   join starts the media of a room (page.js startCall with the console's options) and returns its controls;
 *   leave ends it; onChange is told when a call starts or ends. The client logger files its lines with the call
 *   while it lasts.
 */
export function initCallDesk({ desk, clientLog, logLine, notice, join, leave, onChange }) {
  const agent = hooks.agent;
  agent.call = null;
  agent.lastEnded = null;
  agent.longCall = { state: 'off', asked: 0, continued: 0 };
  /** The answered call: {id, call, room, token, longCallMs, graceMs, answeredAt, sawBusy, ending} */
  let active = null;
  let tick = 0;
  const guard = { timer: 0, countdown: 0, deadline: 0 };
  let dev = false;
  devMode().then((d) => { dev = d; });

  /**
   * Answers a ringing call and joins its room; rejects with {code, message} if the server refuses. resume: the
   * call is ours already (the page was reloaded mid-call): answering again returns it, and its time counts from
   * when it was answered.
   */
  async function answer(call, resume = false) {
    if (active) throw { code: 'agent_busy', message: 'already in a call' };
    const reply = await api(`/api/calls/${encodeURIComponent(call.id)}/answer`, { method: 'POST', token: desk.token() });
    const answeredAt = resume && reply.call?.answeredAt ? Math.min(Date.now(), reply.call.answeredAt) : Date.now();
    active = {
      id: call.id, call: { ...call, ...reply.call }, room: reply.room, token: reply.token,
      longCallMs: reply.longCallMs, graceMs: reply.graceMs, answeredAt, sawBusy: resume, ending: false,
    };
    agent.call = { id: call.id, room: reply.room, claim: active.call.claim, customer: active.call.customer };
    agent.longCall = { state: 'off', asked: 0, continued: 0 }; // counted per call
    const logger = clientLog.logger;
    if (logger) {
      logger.setCall(call.id);
      logger.fields.room = reply.room;
    }
    logLine('answer', `${active.call.claim} · ${active.call.customer} in ${reply.room}`);
    $('last-call').hidden = true;
    showCase();
    joinRoom();
    tick = setInterval(showTimer, 1000);
    showTimer();
    armGuard(active.longCallMs - (Date.now() - answeredAt));
    onChange();
  }

  function joinRoom() {
    const a = active;
    a.media = join({
      room: a.room, uid: desk.uid(), token: a.token,
      // The room token lives as long as the sign-in; dev mode can mint a fresh one.
      renew: async (room, uid) => (dev ? (a.token = await mintRoomToken(room, uid)) : null),
    });
  }

  /** After a lost connection or a failed join: the same room, the same token. */
  function rejoin() {
    if (!active) return;
    leave();
    notice('');
    logLine('rejoin', active.room);
    joinRoom();
  }

  /* ---------------------------------------------------------------- the case panel and the timer */

  function showCase() {
    const c = active.call;
    $('case-claim').textContent = c.claim;
    $('case-customer').textContent = c.customer;
    const dev = describeDevice(c.device);
    const net = describeNetwork(c.network ?? c.clientNetwork);
    $('case-device').textContent = dev || 'not known';
    $('case-network').textContent = net.text || 'not known';
    $('incident-no').value = '';
    $('call-notes').value = '';
    $('case').hidden = false;
    $('call-timer').hidden = false;
    $('ask-audio-only').disabled = false;
  }

  /** Asks the customer's page to turn its camera off and go on with voice (POST /api/calls/{id}/audio-only). */
  async function askAudioOnly() {
    const a = active;
    if (!a) return;
    $('ask-audio-only').disabled = true;
    try {
      await api(`/api/calls/${encodeURIComponent(a.id)}/audio-only`, { method: 'POST', token: desk.token() });
      agent.askedAudioOnly = a.id;
      logLine('audio-only', 'asked the customer to switch to voice');
      notice('Asked the customer\'s page to turn its camera off and go on with voice.');
    } catch (err) {
      notice(explain(err.code, err.message));
    } finally {
      if (active === a) $('ask-audio-only').disabled = false;
    }
  }
  $('ask-audio-only').addEventListener('click', askAudioOnly);

  function showTimer() {
    if (active) $('call-timer').textContent = clock(Date.now() - active.answeredAt);
  }

  /* ---------------------------------------------------------------- the long-call guard */

  /** Asks whether to go on after delay ms (by default a whole long_call). */
  function armGuard(delay = active?.longCallMs) {
    clearTimeout(guard.timer);
    clearInterval(guard.countdown);
    if (!(active?.longCallMs > 0)) return;
    agent.longCall.state = 'armed';
    guard.timer = setTimeout(askStillThere, Math.max(0, delay));
  }

  function askStillThere() {
    if (!active || active.ending) return;
    const dialog = $('long-call');
    if ($('end-dialog').open) $('end-dialog').close();
    agent.longCall.state = 'asking';
    agent.longCall.asked++;
    guard.deadline = Date.now() + active.graceMs;
    const count = () => { $('long-call-count').textContent = String(Math.max(0, Math.ceil((guard.deadline - Date.now()) / 1000))); };
    count();
    guard.countdown = setInterval(count, 250);
    guard.timer = setTimeout(() => {
      clearInterval(guard.countdown);
      dialog.close();
      agent.longCall.state = 'expired';
      logLine('long call', 'no answer: hanging up');
      endCall({ outcome: 'other', incidentNo: $('incident-no').value.trim(), notes: withNote($('call-notes').value, GUARD_NOTE) }, 'long-call');
    }, active.graceMs);
    logLine('long call', `asked; hangs up in ${Math.round(active.graceMs / 1000)} s without an answer`);
    if (!dialog.open) dialog.showModal();
  }

  $('long-call-continue').addEventListener('click', () => {
    $('long-call').close();
    agent.longCall.continued++;
    logLine('long call', 'the agent goes on');
    armGuard();
  });
  $('long-call-end').addEventListener('click', () => {
    clearTimeout(guard.timer);
    clearInterval(guard.countdown);
    $('long-call').close();
    openEndDialog();
  });
  // Escape closes a modal dialog: for the guard that means "go on", which is what a present agent wants.
  $('long-call').addEventListener('cancel', (ev) => { ev.preventDefault(); $('long-call-continue').click(); });

  /* ---------------------------------------------------------------- hanging up */

  function openEndDialog() {
    if (!active || active.ending) return;
    const dialog = $('end-dialog');
    $('end-incident').value = $('incident-no').value;
    $('end-notes').value = $('call-notes').value;
    $('end-error').hidden = true;
    // A customer who left suggests "dropped"; otherwise the agent chooses.
    $('end-outcome').value = hooks.state === 'peer-left' ? 'dropped' : '';
    if (!dialog.open) dialog.showModal();
    $('end-outcome').focus();
  }

  $('end-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!active) return;
    endCall({ outcome: $('end-outcome').value, incidentNo: $('end-incident').value.trim(), notes: $('end-notes').value });
  });
  $('end-cancel').addEventListener('click', () => $('end-dialog').close());
  // What is typed in the dialog is kept in the case form, so closing it loses nothing.
  $('end-incident').addEventListener('input', () => { $('incident-no').value = $('end-incident').value; });
  $('end-notes').addEventListener('input', () => { $('call-notes').value = $('end-notes').value; });

  /** Files the call (POST …/end), then leaves the room. why: 'agent' or 'long-call'. */
  async function endCall(info, why = 'agent') {
    const a = active;
    if (!a || a.ending) return;
    a.ending = true;
    $('end-confirm').disabled = true;
    let rec = null;
    try {
      rec = await api(`/api/calls/${encodeURIComponent(a.id)}/end`, { method: 'POST', token: desk.token(), body: info });
    } catch (err) {
      a.ending = false;
      $('end-confirm').disabled = false;
      if (err.code !== 'call_state' && err.code !== 'call_ended') {
        const text = `Could not file the call: ${explain(err.code, err.message)}`;
        logLine('end', `failed: ${err.code}`);
        if ($('end-dialog').open) {
          $('end-error').textContent = text;
          $('end-error').hidden = false;
        } else {
          notice(text, { label: 'Hang up again', run: () => endCall(info, why) });
        }
        return;
      }
      logLine('end', 'the call was already ended on the server');
    }
    finish(rec, why, rec ? '' : 'This call had already been ended (by the operator, or on another console).');
  }

  /** The call is over on the server: leave the room and go back to the incoming list. */
  function finish(rec, why, text = '') {
    const a = active;
    active = null;
    clearInterval(tick);
    clearTimeout(guard.timer);
    clearInterval(guard.countdown);
    agent.longCall.state = 'off';
    for (const d of ['end-dialog', 'long-call']) if ($(d).open) $(d).close();
    $('end-confirm').disabled = false;
    leave();
    agent.call = null;
    agent.lastEnded = rec ?? { id: a.id, claim: a.call.claim };
    $('case').hidden = true;
    $('call-timer').hidden = true;
    $('ask-audio-only').disabled = true;
    const last = $('last-call');
    last.querySelector('.text').textContent = rec
      ? `${why === 'long-call' ? 'Hung up by the long-call guard. ' : ''}Filed ${rec.claim} as "${OUTCOME_WORDS[rec.outcome] ?? rec.outcome}"`
        + `${rec.incidentNo ? ` · incident ${rec.incidentNo}` : ''} · talk ${duration(rec.talkMs)}.`
      : text;
    last.querySelector('a').href = `/console/calls?id=${encodeURIComponent(a.id)}`;
    last.hidden = false;
    notice('');
    logLine('call filed', rec ? `${rec.claim}: ${rec.outcome}${rec.incidentNo ? ` (${rec.incidentNo})` : ''}` : a.id);
    const logger = clientLog.logger;
    if (logger) { // what was logged so far goes with the call; later lines do not
      logger.flush();
      logger.setCall(undefined);
      logger.fields.room = '';
    }
    onChange();
  }

  return {
    answer,
    rejoin,
    /** The hang-up button and H: the outcome dialog. */
    hangup: openEndDialog,
    active: () => active,
    /** Presence from the console's stream: busy → online or away while in a call means it ended elsewhere. */
    presence(state) {
      if (!active) return;
      if (state === 'busy') active.sawBusy = true;
      else if (active.sawBusy && !active.ending) {
        logLine('call', 'ended on the server');
        setState('ended');
        finish(null, 'operator', 'The call was ended by the operator (or on another console of yours).');
      }
    },
  };
}

const withNote = (notes, line) => (notes.trim() ? `${notes.trim()}\n${line}` : line);
