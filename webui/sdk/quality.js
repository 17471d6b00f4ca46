/**
 * Network quality, the client's side (docs/signaling.md, "Network quality"): the once-a-second ping that tells
 * the server (and the agent) whether this client's network carries its packets, the client's own view of those
 * pings (getPingStats), and the shapes of the server's `network-quality` and `network-tip` messages.
 *
 * Pings go over an unordered, unretransmitted RTCDataChannel (`stoa-ping`) on the publishing PeerConnection when
 * there is one: it rides the media's UDP path, so a lost ping is a lost packet. A websocket is TCP, which
 * retransmits and turns loss into delay, so it only carries the pings while no channel is open (not
 * publishing, or before the channel opens). One sequence counter serves both.
 */

import { log } from './log.js';

/** The data channel's label: the server echoes each text message sent on it. */
export const PING_LABEL = 'stoa-ping';
/** How many of the newest pings the stats look at (the seed's window). */
export const PING_WINDOW = 20;
/** A ping with no echo within this long is lost (a late echo does not revive it). */
export const PING_LOST_MS = 3000;

/** Agora's network quality levels. */
export const QUALITY = Object.freeze({ UNKNOWN: 0, EXCELLENT: 1, GOOD: 2, POOR: 3, BAD: 4, VERY_BAD: 5, DOWN: 6 });

/** A level as 0–6 (anything else is 0, unknown). */
export const level = (v) => (Number.isInteger(v) && v >= 0 && v <= 6 ? v : 0);

/**
 * @typedef {{lostRate: number, continueLostCount: number, rtt: number}} PingStats
 * @typedef {{uplink: number, downlink: number}} Levels
 * @typedef {{uid: string, tag: string, tip: ''|'poor'|'voice'|'down', message: string, lostRate: number,
 *   continueLostCount: number}} NetworkTip uid: whom it is about; tag: that participant's (e.g. customer)
 */

/**
 * The pings sent and their echoes: the seed's stats over the newest PING_WINDOW pings. Pure (times are
 * passed in), so it is easy to reason about: a ping is decided once echoed, or lost once PING_LOST_MS passed.
 */
export class PingWindow {
  /** @type {{seq: number, sentAt: number, rtt: number|null}[]} oldest first, at most PING_WINDOW */
  #pings = [];
  #seq = 0;
  /** the newest measured round trip (ms), 0 before the first echo */
  lastRtt = 0;

  /** Starts a ping: @returns {number} its seq (1, 2, …) */
  next(now) {
    const seq = ++this.#seq;
    this.#pings.push({ seq, sentAt: now, rtt: null });
    if (this.#pings.length > PING_WINDOW) this.#pings.shift();
    return seq;
  }

  /** An echo of seq arrived: @returns {number|null} its round trip, or null (unknown, repeated, or too late) */
  answer(seq, now) {
    const p = this.#pings.find((x) => x.seq === seq);
    if (!p || p.rtt !== null || now - p.sentAt > PING_LOST_MS) return null;
    p.rtt = Math.max(0, now - p.sentAt);
    this.lastRtt = Math.round(p.rtt);
    return p.rtt;
  }

  /** @returns {PingStats} lostRate = lost/decided (2 decimals), continueLostCount = lost in a row up to the newest
   * decided ping, rtt = mean round trip of the echoed ones (ms, integer); all 0 before anything is decided. */
  stats(now) {
    let lost = 0, decided = 0, run = 0, counting = true, rttSum = 0, echoed = 0;
    for (let i = this.#pings.length - 1; i >= 0; i--) {
      const p = this.#pings[i];
      const isLost = p.rtt === null && now - p.sentAt > PING_LOST_MS;
      if (p.rtt === null && !isLost) continue; // still in flight: not decided yet
      decided++;
      if (isLost) {
        lost++;
        if (counting) run++;
      } else {
        counting = false;
        rttSum += p.rtt;
        echoed++;
      }
    }
    return {
      lostRate: decided ? Math.round((100 * lost) / decided) / 100 : 0,
      continueLostCount: run,
      rtt: echoed ? Math.round(rttSum / echoed) : 0,
    };
  }
}

/**
 * Sends the pings: over the `stoa-ping` data channel of the publishing PeerConnection while it is open, else it
 * hands the websocket message to the caller (the Room, which owns the socket and its keepalive).
 */
export class Pinger {
  window = new PingWindow();
  /** @type {RTCDataChannel|null} */ #channel = null;

  /** Opens the ping channel on a publishing PeerConnection; call it before creating the offer, so the offer
   * carries the data channel's m=application section. @param {RTCPeerConnection} pc */
  attach(pc) {
    this.detach();
    let ch;
    try {
      ch = pc.createDataChannel(PING_LABEL, { ordered: false, maxRetransmits: 0 });
    } catch (err) {
      log.warn('no ping data channel, pinging over the websocket', err);
      return;
    }
    this.#channel = ch;
    ch.binaryType = 'arraybuffer'; // an echo may come back as binary (the same bytes): decoded in #onEcho
    ch.onmessage = (ev) => this.#onEcho(ev.data);
    ch.onclose = () => { if (this.#channel === ch) this.#channel = null; };
  }

  /** The publication ended: ping over the websocket again. */
  detach() {
    const ch = this.#channel;
    this.#channel = null;
    if (ch) { ch.onmessage = ch.onclose = null; ch.close(); }
  }

  /** Whether the pings go over the data channel now. */
  get onChannel() { return this.#channel?.readyState === 'open'; }

  /**
   * Sends this second's ping. @returns {object|null} the websocket message to send instead when there is no open
   * channel, else null.
   */
  tick(now) {
    const ch = this.#channel;
    const rtt = this.window.lastRtt;
    if (ch?.readyState === 'open') {
      const seq = this.window.next(now);
      try {
        ch.send(JSON.stringify({ seq, rtt }));
      } catch (err) {
        log.debug('ping over the data channel', err); // it is closing: the ping counts as lost, as a dropped packet would
      }
      return null;
    }
    return { type: 'ping', seq: this.window.next(now), t: now, rtt };
  }

  /** A `pong` from the websocket (ours carry seq; the keepalive's bare pings do not). */
  onPong(msg, now) {
    if (Number.isInteger(msg.seq)) this.window.answer(msg.seq, now);
  }

  #onEcho(data) {
    let seq;
    try { seq = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data)).seq; } catch { return; }
    if (Number.isInteger(seq)) this.window.answer(seq, performance.now());
  }

  /** @returns {PingStats} */
  stats(now = performance.now()) { return this.window.stats(now); }
}

/**
 * The levels a `network-quality` message carries: our own, and each remote participant's by uid.
 * @returns {{self: Levels, remote: Record<string, Levels>}}
 */
export function readNetworkQuality(msg) {
  const remote = {};
  for (const [uid, q] of Object.entries(msg.remote ?? {})) remote[uid] = { uplink: level(q?.uplink), downlink: level(q?.downlink) };
  return { self: { uplink: level(msg.uplink), downlink: level(msg.downlink) }, remote };
}

/** The English text of each tip, for a server that sends none. */
export const TIP_TEXT = Object.freeze({
  down: "the customer's network is down or they left the call page",
  voice: "the customer's network is poor, suggest switching to voice",
  poor: "the customer's network is poor",
  '': '',
});

/** A `network-tip` message as the event the SDK emits (a tip this SDK does not know keeps the server's text).
 * @returns {NetworkTip} */
export function readNetworkTip(msg) {
  const tip = typeof msg.tip === 'string' ? msg.tip : '';
  const message = tip ? (typeof msg.message === 'string' && msg.message) || TIP_TEXT[tip] || tip : '';
  return {
    uid: String(msg.uid ?? ''), tag: typeof msg.tag === 'string' ? msg.tag : '', tip: /** @type {any} */ (tip), message,
    lostRate: Math.round(100 * (Number(msg.lostRate) || 0)) / 100, // two decimals, as getPingStats and the seed's logs
    continueLostCount: Number(msg.continueLostCount) || 0,
  };
}
