// Network quality on the pages: Agora's 0–6 levels as small bars with a word, the server's tip about the customer
// as a banner on the agent's console, and "Your network is poor" on the customer's page. The SDK gives the levels
// every 2 s (network-quality, getRemoteNetworkQuality) and the tips as they change (network-tip, '' clears).
import { hooks } from './page.js';

const WORDS = ['unknown', 'excellent', 'good', 'poor', 'bad', 'very bad', 'down'];
/** Bars lit per level: 1 excellent lights all five, 5 very bad one, 6 down and 0 unknown none. */
const LIT = [0, 5, 4, 3, 2, 1, 0];
const DIRS = { up: 'uplink', down: 'downlink' };
/** From this level on the customer page says the network is poor (Agora's "not very smoothly"). */
const POOR_LEVEL = 4;

const capital = (s) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * Fills a meter element (`<div class="net" data-who="Customer">`) with its two gauges the first time, then shows
 * levels on them: `data-level` on each `.net-level` (the tests and the CSS read it), bars and a word.
 * @param {HTMLElement|null} el @param {{uplink: number, downlink: number}|null} q null: unknown (nobody there)
 */
export function renderMeter(el, q) {
  if (!el) return;
  if (!el.querySelector('.net-level')) {
    const who = document.createElement('span');
    who.className = 'net-who';
    who.textContent = el.dataset.who ?? '';
    el.append(who);
    for (const dir of Object.keys(DIRS)) {
      const g = document.createElement('span');
      g.className = 'net-level';
      g.dataset.dir = dir;
      g.innerHTML = `<span class="net-arrow" aria-hidden="true">${dir === 'up' ? '↑' : '↓'}</span>`
        + '<span class="net-bars" aria-hidden="true"><i></i><i></i><i></i><i></i><i></i></span><span class="net-word"></span>';
      el.append(g);
    }
  }
  for (const [dir, key] of Object.entries(DIRS)) {
    const level = q?.[key] ?? 0;
    const g = el.querySelector(`.net-level[data-dir="${dir}"]`);
    g.dataset.level = String(level);
    g.querySelectorAll('i').forEach((bar, i) => bar.classList.toggle('on', i < LIT[level]));
    g.querySelector('.net-word').textContent = WORDS[level];
    g.setAttribute('aria-label', `${el.dataset.who ?? ''} ${key}: ${WORDS[level]}`.trim());
    g.title = `${key}: ${WORDS[level]} (${level})`;
  }
}

/**
 * The agent's console: its own levels (#net-self), the customer's (#net-customer, from the others' levels the
 * server reports) and the tip about the customer (#net-tip), with "Customer switched to voice" once the customer's
 * video goes off while the tip suggests voice. The customer is the other side of the call: the uid whose stream
 * plays, else the one the server reports on.
 * @param {any} client the page's Agora-shaped client
 */
export function watchAgentNetwork(client) {
  const state = (hooks.network = { self: null, remote: {}, tips: {}, videoMuted: {}, customer: null });
  const self = () => String(client.room?.uid ?? '');
  const customer = () => {
    const playing = Object.keys(hooks.remoteStreams ?? {})[0];
    return playing ?? Object.keys(state.remote).find((uid) => uid !== self()) ?? null;
  };

  function render() {
    const uid = (state.customer = customer());
    renderMeter(document.getElementById('net-self'), state.self);
    renderMeter(document.getElementById('net-customer'), uid != null ? state.remote[uid] ?? null : null);
    const tip = uid != null ? state.tips[uid] : null;
    const banner = document.getElementById('net-tip');
    if (!banner) return;
    banner.hidden = !tip;
    banner.dataset.tip = tip?.tip ?? '';
    banner.querySelector('.text').textContent = tip ? capital(tip.message) : '';
    const switched = tip?.tip === 'voice' && state.videoMuted[uid] === true;
    banner.querySelector('.voice').hidden = !switched;
    state.switchedToVoice = switched;
  }

  client.on('network-quality', (q) => {
    state.self = { uplink: q.uplinkNetworkQuality, downlink: q.downlinkNetworkQuality };
    state.remote = {};
    for (const [uid, r] of Object.entries(client.getRemoteNetworkQuality())) {
      state.remote[uid] = { uplink: r.uplinkNetworkQuality, downlink: r.downlinkNetworkQuality };
    }
    render();
  });
  client.on('network-tip', (t) => {
    const uid = String(t.uid);
    if (uid === self()) return; // the agent's own network: the event log shows it
    if (t.tip) state.tips[uid] = t; else delete state.tips[uid];
    render();
  });
  for (const muted of [true, false]) {
    client.on(`${muted ? 'mute' : 'unmute'}-video`, ({ uid }) => { state.videoMuted[String(uid)] = muted; render(); });
  }
  client.on('stream-added', ({ stream }) => { state.videoMuted[String(stream.getId())] = !!stream.info?.videoMuted; render(); });
  client.on('stream-subscribed', render);
  client.on('peer-leave', ({ uid }) => {
    delete state.tips[String(uid)];
    delete state.remote[String(uid)];
    render();
  });
  render();
}

/**
 * The customer's page: its own levels (#net-self) and, when either is bad or worse or the server sent a tip about
 * this customer, #net-poor in plain words. autoAudioOnly may have turned the camera off: onAudioOnly is told.
 * @param {any} client the page's Agora-shaped client
 */
export function watchCustomerNetwork(client) {
  const state = (hooks.network = { self: null, tip: null, poor: false });

  function render() {
    renderMeter(document.getElementById('net-self'), state.self);
    const q = state.self ?? { uplink: 0, downlink: 0 };
    state.poor = q.uplink >= POOR_LEVEL || q.downlink >= POOR_LEVEL || !!state.tip;
    const box = document.getElementById('net-poor');
    if (!box) return;
    box.hidden = !state.poor;
    const suggestVoice = (state.tip?.tip === 'voice' || state.tip?.tip === 'down') && !hooks.localStream?.muted.video;
    box.querySelector('.more').textContent = suggestVoice
      ? 'The picture may freeze. Turning your camera off keeps the call going.'
      : 'The picture may freeze or the sound break up. Move closer to your Wi-Fi or to a window.';
  }

  client.on('network-quality', (q) => {
    state.self = { uplink: q.uplinkNetworkQuality, downlink: q.downlinkNetworkQuality };
    render();
  });
  client.on('network-tip', (t) => {
    if (String(t.uid) !== String(client.room?.uid ?? '')) return;
    state.tip = t.tip ? t : null;
    render();
  });
  render();
}
