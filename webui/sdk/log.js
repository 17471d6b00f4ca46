/**
 * Logging for the Stoa SDK: the Agora-shaped `Logger` (the one log setting, re-exported by stoa.js) and `log`,
 * which every other SDK module writes through. Stoa logs to the browser console only, prefixed `[stoa]`.
 */

let logLevel = 1;

/** Agora-shaped log settings. Stoa logs to the browser console only; there is no log collector. */
export const Logger = {
  DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3, NONE: 4,
  /** @param {number} level 0 (DEBUG, everything) … 4 (NONE); lower numbers print more. */
  setLogLevel(level) { logLevel = Number(level); },
  /** Kept so Agora code runs; nothing is uploaded. */
  enableLogUpload() {},
  disableLogUpload() {},
};

/** The SDK's console output, filtered by Logger.setLogLevel(). */
export const log = {
  debug: (...a) => { if (logLevel <= 0) console.debug('[stoa]', ...a); },
  info: (...a) => { if (logLevel <= 1) console.info('[stoa]', ...a); },
  warn: (...a) => { if (logLevel <= 2) console.warn('[stoa]', ...a); },
  error: (...a) => { if (logLevel <= 3) console.error('[stoa]', ...a); },
};
