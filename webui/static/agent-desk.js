// The console's call-center side before a call: signing in (a pasted agent token, or in dev mode one minted for
// an agent id), presence (online / away, and busy or offline as the server says), and the incoming calls that
// ring on this console (GET /api/agents/events), with Answer and Reject. docs/call-center.md is the contract.
import { VERSION, createLogger } from '/sdk/stoa.js';
import { api, explain } from './agent-errors.js';
import { loadToken, saveToken, clearToken, claimsOf, refuse, devMode, mintAgentToken, agentIdFrom } from './agent-auth.js';
import { openEventStream } from './event-stream.js';
import { createRinger } from './agent-ring.js';
import { describeDevice, describeNetwork, clock, el } from './calls-format.js';

const $ = (id) => document.getElementById(id);
const PRESENCE_WORDS = { online: 'Online', away: 'Away', busy: 'In a call', offline: 'Offline' };

/**
 * Wires the sign-in form, the agent bar and the incoming list of console.html.
 * @param {{hooks: any, logLine: (name: string, detail?: string) => void, clientLog: {logger: any},
 *   onAnswer: (call: any, resume: boolean) => Promise<void>, onPresence?: (state: string) => void, inCall: () => boolean}} o
 *   clientLog.logger: set to the agent's client logger while signed in (posted with the sign-in token);
 *   onAnswer: answer this ringing call, or (resume) rejoin a call of ours (rejects with {code, message} when the
 *   server refuses); inCall: whether the page is in a call now
 */
export function initAgentDesk({ hooks, logLine, clientLog, onAnswer, onPresence, inCall }) {
  const agent = (hooks.agent = {
    signedIn: false, uid: '', presence: 'offline', chosen: 'online', connected: false, ringing: [],
    sound: false, blink: false, soundBlocked: false, lastError: null,
  });
  const ringer = createRinger({ hooks: agent });
  /** @type {Map<string, any>} the ringing calls by id, as the last ringing event gave them */
  const ringing = new Map();
  /** @type {Map<string, any>} calls this agent answered and still holds, which this page is not in (after a reload) */
  const own = new Map();
  let token = '';
  let stream = null;
  let answering = '';

  /* ---------------------------------------------------------------- signing in */

  async function signIn(t, how) {
    const why = refuse(t);
    if (why) return signInError(why);
    token = t;
    saveToken(t);
    const c = claimsOf(t);
    clientLog.logger?.close();
    clientLog.logger = hooks.logger = createLogger({ token: t, fields: { staff: c.uid, room: '', version: VERSION } });
    Object.assign(agent, { signedIn: true, uid: c.uid, lastError: null });
    $('agent-id').textContent = c.uid;
    $('signin-error').hidden = true;
    document.body.dataset.signedIn = 'true';
    logLine('sign-in', `${c.uid} (${how}), until ${new Date(c.exp * 1000).toLocaleTimeString()}`);
    connect();
    render();
  }

  function signInError(code, message) {
    agent.lastError = code;
    const box = $('signin-error');
    box.textContent = explain(code, message);
    box.hidden = false;
  }

  function signOut(code, message) {
    stream?.close();
    stream = null;
    token = '';
    clearToken();
    ringing.clear();
    ringer.stop();
    Object.assign(agent, { signedIn: false, uid: '', presence: 'offline', connected: false, ringing: [] });
    document.body.dataset.signedIn = 'false';
    if (code) signInError(code, message);
    logLine('sign-out', code ?? '');
    clientLog.logger?.close();
    clientLog.logger = hooks.logger = null;
    render();
  }

  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    ringer.unlock(); // a click: the ring may sound from now on
    const t = $('signin-token').value.trim();
    $('signin-token').value = '';
    if (!t) return signInError('token_invalid');
    signIn(t, 'token');
  });
  $('dev-signin').addEventListener('click', async () => {
    ringer.unlock();
    const id = agentIdFrom($('dev-agent').value) || `agent-${1000 + Math.floor(Math.random() * 9000)}`;
    $('dev-signin').disabled = true;
    try {
      await signIn(await mintAgentToken(id), 'dev mode');
    } catch (err) {
      signInError(err.code ?? 'network', err.message);
    } finally {
      $('dev-signin').disabled = false;
    }
  });
  $('sign-out').addEventListener('click', () => signOut());
  $('enable-sound').addEventListener('click', () => ringer.unlock().then(render));

  /* ---------------------------------------------------------------- the event stream */

  function connect() {
    stream?.close();
    stream = openEventStream('/api/agents/events', token, {
      onOpen() {
        agent.connected = true;
        ringing.clear(); // the stream starts with every call that rings now
        logLine('call center', 'connected');
        render();
      },
      onEvent,
      onDown(err) {
        agent.connected = false;
        logLine('call center', `disconnected (${err.code}); reconnecting`);
        render();
      },
      onRefused(err) {
        stream = null;
        signOut(err.status === 403 ? 'not_agent' : 'token_expired', err.message);
      },
    });
  }

  function onEvent(name, data) {
    if (name === 'presence') {
      agent.presence = data.state;
      if (data.state === 'online' || data.state === 'away') agent.chosen = data.state;
      logLine('presence', data.state);
      onPresence?.(data.state);
      if (data.state === 'busy' && !inCall() && !answering) findOwnCalls(); // not our own answer under way
      else if (data.state !== 'busy') own.clear();
    } else if (name === 'ringing' && data.call?.id) {
      if (!ringing.has(data.call.id)) logLine('ringing', `${data.call.claim} · ${data.call.customer} (#${data.call.position})`);
      ringing.set(data.call.id, data.call);
    } else if (name === 'stop-ringing' && data.id) {
      const call = ringing.get(data.id);
      ringing.delete(data.id);
      if (call) logLine('stop-ringing', `${call.claim}: ${data.reason}`);
    }
    render();
  }

  /* ---------------------------------------------------------------- presence */

  $('presence').addEventListener('change', async () => {
    const want = $('presence').value;
    agent.chosen = want;
    try {
      const reply = await api('/api/agents/me/presence', { method: 'PUT', token, body: { state: want } });
      agent.presence = reply.state;
    } catch (err) {
      showError(err);
    }
    render();
  });

  /* ---------------------------------------------------------------- answer and reject */

  /** Busy with no call on this page (it was reloaded mid-call): find the call, to offer to rejoin it. */
  async function findOwnCalls() {
    try {
      const { calls = [] } = await api(`/api/calls?agent=${encodeURIComponent(agent.uid)}&state=answered&limit=10`, { token });
      own.clear();
      if (inCall() || answering || agent.presence !== 'busy') return; // it was this page's own answer after all
      for (const c of calls) own.set(c.id, c);
      if (own.size) logLine('call in progress', calls.map((c) => c.claim).join(', '));
    } catch (err) {
      showError(err);
    } finally {
      render();
    }
  }

  async function answer(id) {
    const mine = own.has(id);
    const call = ringing.get(id) ?? own.get(id);
    if (!call || answering) return;
    ringer.unlock();
    answering = id;
    showError(null);
    render();
    try {
      await onAnswer(call, mine);
      ringing.delete(id);
      own.delete(id);
    } catch (err) {
      showError(err);
      if (['call_taken', 'call_state', 'call_not_found', 'call_ended'].includes(err.code)) {
        ringing.delete(id);
        own.delete(id);
      }
    } finally {
      answering = '';
      render();
    }
  }

  async function reject(id) {
    const call = ringing.get(id);
    if (!call) return;
    try {
      await api(`/api/calls/${encodeURIComponent(id)}/reject`, { method: 'POST', token });
      ringing.delete(id); // the stream says stop-ringing too
      logLine('reject', call.claim);
    } catch (err) {
      showError(err);
    }
    render();
  }

  function showError(err) {
    agent.lastError = err?.code ?? null;
    const box = $('incoming-error');
    box.hidden = !err;
    box.textContent = err ? explain(err.code, err.message) : '';
    if (err) logLine('error', `${err.code}: ${err.message ?? ''}`);
  }

  /* ---------------------------------------------------------------- drawing */

  function ringItem(call) {
    const dev = describeDevice(call.device);
    const net = describeNetwork(call.network);
    const busy = answering === call.id;
    const li = el('li', { className: 'ring-item' },
      el('div', { className: 'ring-who' },
        el('strong', { className: 'ring-claim', textContent: call.claim }),
        el('span', { className: 'ring-customer', textContent: call.customer })),
      el('div', { className: 'ring-meta' },
        el('span', { className: 'ring-pos', textContent: call.position === 1 ? 'next in queue' : `#${call.position} in queue` }),
        el('span', { className: 'ring-wait', textContent: `waiting ${clock(Date.now() - call.queuedAt)}` }),
        dev && el('span', { className: 'ring-device', textContent: dev }),
        net.text && el('span', { className: 'ring-net', textContent: `network: ${net.text}` })),
      el('div', { className: 'ring-actions' },
        el('button', { id: `answer-${call.id}`, type: 'button', className: 'ring-answer', disabled: !!answering, textContent: busy ? 'Answering…' : 'Answer' }),
        el('button', { id: `reject-${call.id}`, type: 'button', className: 'ring-reject', disabled: !!answering, textContent: 'Reject' })));
    li.dataset.id = call.id;
    if (net.level) li.dataset.level = String(net.level);
    li.querySelector('.ring-answer').addEventListener('click', () => answer(call.id));
    li.querySelector('.ring-reject').addEventListener('click', () => reject(call.id));
    return li;
  }

  /** A call of ours in progress that this page is not in: rejoin it (and hang up from there to file it). */
  function ownItem(call) {
    const li = el('li', { className: 'ring-item own' },
      el('div', { className: 'ring-who' },
        el('strong', { className: 'ring-claim', textContent: call.claim }),
        el('span', { className: 'ring-customer', textContent: call.customer })),
      el('div', { className: 'ring-meta' },
        el('span', { textContent: `Your call in progress since ${new Date(call.answeredAt).toLocaleTimeString()}: rejoin it, then hang up to file it.` })),
      el('div', { className: 'ring-actions' },
        el('button', { id: `rejoin-${call.id}`, type: 'button', className: 'ring-answer', disabled: !!answering, textContent: answering === call.id ? 'Rejoining…' : 'Rejoin' })));
    li.dataset.id = call.id;
    li.querySelector('button').addEventListener('click', () => answer(call.id));
    return li;
  }

  function render() {
    const calls = [...ringing.values()].sort((a, b) => a.position - b.position || a.queuedAt - b.queuedAt);
    agent.ringing = calls.map((c) => c.id);
    $('signin-form').hidden = agent.signedIn;
    $('agent-box').hidden = !agent.signedIn;
    $('incoming').hidden = !agent.signedIn;
    const shown = agent.connected ? agent.presence : 'offline';
    const state = $('presence-state');
    state.dataset.state = shown;
    state.textContent = agent.connected ? PRESENCE_WORDS[shown] ?? shown : 'Offline · reconnecting…';
    $('presence').value = agent.chosen;
    $('presence').disabled = !agent.connected;
    $('incoming-count').textContent = String(calls.length);
    const empty = $('incoming-empty');
    empty.hidden = calls.length + own.size > 0;
    empty.textContent = !agent.connected ? 'Connecting to the call center…'
      : agent.presence === 'away' ? 'You are away: calls do not ring here. Choose Online to take calls.'
      : agent.presence === 'busy' ? 'You are in a call: other calls ring again when it ends.'
      : 'No calls waiting. This page rings when a customer calls.';
    // Keep the rows (and the focus on their buttons) when only the waiting times change.
    const list = $('incoming-list');
    const key = JSON.stringify([calls, [...own.keys()], answering]);
    if (list.dataset.key !== key) {
      list.dataset.key = key;
      list.replaceChildren(...[...own.values()].map(ownItem), ...calls.map(ringItem));
    } else {
      for (const li of list.children) {
        const c = ringing.get(li.dataset.id);
        if (c) li.querySelector('.ring-wait').textContent = `waiting ${clock(Date.now() - c.queuedAt)}`;
      }
    }
    if (calls.length && agent.connected) ringer.start(calls.length > 1 ? `${calls.length} incoming calls` : `Incoming call · ${calls[0].claim}`);
    else ringer.stop();
    $('enable-sound').hidden = !(calls.length && agent.soundBlocked);
  }
  setInterval(() => { if (ringing.size) render(); }, 1000);

  /* ---------------------------------------------------------------- start */

  (async () => {
    const dev = await devMode();
    $('dev-signin-box').hidden = !dev;
    if (dev && !$('dev-agent').value) $('dev-agent').value = `agent-${1000 + Math.floor(Math.random() * 9000)}`;
    const saved = loadToken();
    if (saved) signIn(saved, 'saved');
    else render();
  })();

  return {
    /** The sign-in token ('' when signed out). */
    token: () => token,
    uid: () => agent.uid,
    /** Signs out, e.g. when the server refuses the token. */
    signOut,
    render,
  };
}
