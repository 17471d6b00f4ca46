// What the customer's page says when something fails: every code it may meet (the browser's getUserMedia error
// names, the SDK's Agora-style codes, the protocol's and the call center's codes) as a title, a sentence in plain
// words and what to do, with the button that does it. A code never shows alone: it goes under the sentence, small,
// for whoever the customer calls for help.

/**
 * @typedef {'retry'|'call-again'|'reload'|'none'} Way what the page offers: try the same again, ask for the call
 *   again, reload the page, or nothing (the link cannot work)
 * @typedef {{title: string, text: string, way: Way, label: string}} Explained
 */

const PERMISSIONS = {
  title: 'Your camera or microphone is blocked',
  text: 'This page needs your camera and microphone for the video call. Allow them for this site in your browser\'s '
    + 'site settings (tap the lock or camera icon next to the web address), then tap Try again.',
  way: 'retry', label: 'Try again',
};
const IN_USE = {
  title: 'Your camera or microphone is busy',
  text: 'Another app is using your camera or microphone. Close other apps that use them (video calls, the camera '
    + 'app, other browser tabs), then tap Try again. If that does not help, restart your phone.',
  way: 'retry', label: 'Try again',
};
const NO_DEVICE = {
  title: 'No camera or microphone found',
  text: 'We could not find a camera or microphone on this device. Check that one is connected and switched on, '
    + 'or open the link on your phone, then tap Try again.',
  way: 'retry', label: 'Try again',
};
const BAD_LINK = {
  title: 'This link does not work',
  text: 'The call link is not valid. Open the link exactly as you received it. If it still does not work, '
    + 'ask us for a new link.',
  way: 'none', label: '',
};
const NETWORK = {
  title: 'We lost the connection',
  text: 'Your connection to the call dropped. Check that you are online (Wi-Fi or mobile data), then tap Call again.',
  way: 'call-again', label: 'Call again',
};

/** @type {Record<string, Explained>} */
const BY_CODE = {
  // getUserMedia (DOMException names, and the SDK's init error msg, which is the same name)
  NotAllowedError: PERMISSIONS, PermissionDeniedError: PERMISSIONS, SecurityError: PERMISSIONS,
  NotReadableError: IN_USE, TrackStartError: IN_USE, AbortError: IN_USE,
  NotFoundError: NO_DEVICE, DevicesNotFoundError: NO_DEVICE,
  OverconstrainedError: {
    title: 'That camera cannot be used',
    text: 'The camera you chose does not work for video calls. Choose another camera in the list, then tap Try again.',
    way: 'retry', label: 'Try again',
  },
  NOT_SUPPORTED: {
    title: 'This browser cannot make video calls',
    text: 'Open the link in an up-to-date Chrome, Safari, Edge or Firefox. On an iPhone use Safari; the page must '
      + 'open over https.',
    way: 'none', label: '',
  },
  // the protocol and the SDK
  token_invalid: BAD_LINK, token_room_mismatch: BAD_LINK, unauthorized: BAD_LINK, forbidden: BAD_LINK,
  call_not_found: BAD_LINK, bad_request: BAD_LINK,
  token_expired: {
    title: 'This link has expired',
    text: 'Call links work for a limited time, and this one is over. Please ask us for a new link.',
    way: 'none', label: '',
  },
  session_not_found: NETWORK, disconnected: NETWORK, timeout: NETWORK, network: NETWORK,
  room_full: {
    title: 'The call is full',
    text: 'Someone is already in this call with your link. If you opened it on another phone or tab, close it there, '
      + 'then tap Try again.',
    way: 'call-again', label: 'Try again',
  },
  server_full: {
    title: 'The service is busy',
    text: 'Too many calls are going on right now. Please wait a minute, then tap Try again.',
    way: 'call-again', label: 'Try again',
  },
  // the call center
  call_ended: {
    title: 'This call is over',
    text: 'This call has ended and its link cannot be used again. If you still need help, ask us for a new link.',
    way: 'none', label: '',
  },
  call_state: {
    title: 'The call has moved on',
    text: 'The call changed while you were on this page. Tap Reload to see where it stands.',
    way: 'reload', label: 'Reload',
  },
  calls_off: {
    title: 'Video calls are not available right now',
    text: 'The service is not taking video calls at the moment. Please try again in a few minutes.',
    way: 'call-again', label: 'Try again',
  },
  rate_limited: {
    title: 'Please wait a moment',
    text: 'Too many tries in a short time. Wait a minute, then tap Try again.',
    way: 'call-again', label: 'Try again',
  },
};
BY_CODE.BAD_ENVIRONMENT = BY_CODE.NOT_SUPPORTED;

/** The sentence for anything not listed: the code goes under it. */
const UNKNOWN = {
  title: 'Something went wrong',
  text: 'The call could not go on. Tap Try again. If it keeps happening, call us and tell us the code below.',
  way: 'call-again', label: 'Try again',
};

/** The code of an error from anywhere: a DOMException or Error (name, code), the SDK's Agora-style object
 * ({msg} from Stream.init, {reason} from the client's error event), a protocol error ({code}) or a string. */
export function codeOf(err) {
  if (err == null) return 'unknown';
  if (typeof err === 'string') return err;
  return String(err.code ?? err.reason ?? err.msg ?? err.name ?? 'unknown');
}

/** @param {any} err @returns {Explained & {code: string}} */
export function explain(err) {
  const code = codeOf(err);
  return { ...(BY_CODE[code] ?? UNKNOWN), code };
}

/** Whether the failure is the camera's or microphone's (so the way out is to capture again). */
export function isMediaError(err) {
  return ['NotAllowedError', 'PermissionDeniedError', 'SecurityError', 'NotReadableError', 'TrackStartError', 'AbortError',
    'NotFoundError', 'DevicesNotFoundError', 'OverconstrainedError', 'NOT_SUPPORTED'].includes(codeOf(err));
}
