/**
 * Stoa browser SDK. One core, {@link Room}, speaks the websocket protocol of docs/signaling.md and owns the
 * PeerConnections (`pub` for our publication, `sub:<uid>` per subscribed remote stream). Two faces sit on it:
 *
 * - the promise API for new code: `const room = await Stoa.join({token})`, `await room.publish()`, …;
 * - an Agora Web SDK 2.x/3.x-shaped API (`Stoa.createClient`, `Stoa.createStream`, callbacks and events), so
 *   code written for Agora runs after swapping `import AgoraRTC from 'agora-rtc-sdk'` for this module.
 *
 * The code lives in the modules beside this one, whose public names this file re-exports: core.js (Room, the
 * protocol and the PeerConnections; StoaError), agora.js (Client and the Agora module functions), stream.js
 * (Stream), quality.js (the network-quality pings and messages), profiles.js (VIDEO_PROFILES), log.js
 * (Logger) and logger.js (createLogger: the client logger, which sends a page's log lines to /api/logs). They
 * import each other by relative URL, so importing this file from another origin loads the rest from the same place.
 *
 * Plain ES module, no build step: `import Stoa from '/sdk/stoa.js'`.
 */

import { Logger } from './log.js';
import { ClientLogger, createLogger } from './logger.js';
import { VIDEO_PROFILES } from './profiles.js';
import { StoaError, Room, join } from './core.js';
import { Stream, Client, createClient, createStream, checkSystemRequirements, getDevices } from './agora.js';

export const VERSION = '0.1.0';

export {
  Logger, VIDEO_PROFILES, StoaError, Room, join, Stream, Client, createClient, createStream, checkSystemRequirements,
  getDevices, ClientLogger, createLogger,
};

/** The default export: Agora's AgoraRTC object shape plus the promise API (`Stoa.join`). */
const Stoa = {
  VERSION, Logger, VIDEO_PROFILES, createClient, createStream, checkSystemRequirements, getDevices,
  join, Room, Client, Stream, StoaError, createLogger, ClientLogger,
};
export default Stoa;
