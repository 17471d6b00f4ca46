/**
 * Logging for the Stoa SDK: the Agora-shaped `Logger` (the one log setting, re-exported by stoa.js) and `log`,
 * which every other SDK module writes through. The SDK logs to the browser console, prefixed `[stoa]`; a page's
 * client logger (logger.js, `createLogger`) also receives the SDK's warnings and errors and sends them to the
 * server with the page's own lines.
 */

let logLevel = 1;
/** @type {((level: 'warn'|'error', args: any[]) => void)|null} */
let sink = null;

/** Agora-shaped log settings. Uploading is the client logger's (createLogger), not Agora's switch. */
export const Logger = {
  DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3, NONE: 4,
  /** @param {number} level 0 (DEBUG, everything) … 4 (NONE); lower numbers print more. */
  setLogLevel(level) { logLevel = Number(level); },
  /** Kept so Agora code runs; use createLogger({token}) to send logs to the server. */
  enableLogUpload() {},
  disableLogUpload() {},
};

/** (internal) Where the SDK's warnings and errors also go, whatever the console level: the page's client
 * logger sets itself here; null stops it. @param {((level: 'warn'|'error', args: any[]) => void)|null} fn */
export function setLogSink(fn) { sink = fn; }

function toSink(level, args) {
  try { sink?.(level, args); } catch { /* a logger must never break the SDK */ }
}

/** The SDK's console output, filtered by Logger.setLogLevel(). */
export const log = {
  debug: (...a) => { if (logLevel <= 0) console.debug('[stoa]', ...a); },
  info: (...a) => { if (logLevel <= 1) console.info('[stoa]', ...a); },
  warn: (...a) => { if (logLevel <= 2) console.warn('[stoa]', ...a); toSink('warn', a); },
  error: (...a) => { if (logLevel <= 3) console.error('[stoa]', ...a); toSink('error', a); },
};
