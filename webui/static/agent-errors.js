// What an agent reads instead of a raw code: each code the console can meet (the server's HTTP and protocol
// codes of docs/signaling.md and docs/call-center.md, the browser's getUserMedia errors, the SDK's) as a
// sentence that says what happened and what to do next.

/** code → [what happened and the way out, the action a page may offer ('retry', 'sign-in', 'rejoin' or '')]. */
const TEXT = {
  // Signing in and tokens
  token_invalid: ['The sign-in token is not valid (mistyped, cut short, or made by another server). Paste it again or ask your supervisor for a new one.', 'sign-in'],
  token_expired: ['Your sign-in has expired. Sign in again with a new token.', 'sign-in'],
  unauthorized: ['The server did not accept your sign-in (it may have expired). Sign in again.', 'sign-in'],
  forbidden: ['This token does not allow that. An agent sign-in token (with the call_center grant) is needed: ask your supervisor for one.', 'sign-in'],
  not_agent: ['This token is not an agent sign-in token (room call-center, with the call_center grant). Ask your supervisor for one.', 'sign-in'],
  token_room_mismatch: ['The call token does not match this call. Answer the call again from the list.', ''],
  bad_host: ['Dev mode only works on this computer (localhost). Open the console at http://localhost or 127.0.0.1.', ''],
  bad_origin: ['The server refused a request from this page address. Open the console from the server itself.', ''],

  // The call center
  call_taken: ['Another agent answered this call first. Nothing to do: it is taken care of.', ''],
  agent_busy: ['You are already in a call. End it before answering another.', ''],
  call_state: ['This call is no longer waiting: the customer hung up or it timed out.', ''],
  call_ended: ['This call has already ended.', ''],
  call_not_found: ['This call does not exist any more. Refresh the list.', 'retry'],
  calls_off: ['This server does not run the call center (or it is restarting). The console tries again by itself.', 'retry'],
  rate_limited: ['Too many requests in a row. Wait a few seconds and try again.', 'retry'],
  bad_request: ['The server refused the request as malformed. Reload the page and try again.', 'retry'],
  payload_too_large: ['That is too long for the server. Shorten the notes and try again.', ''],

  // Joining the call's room
  session_not_found: ['The connection to the call could not be resumed. Rejoin the call.', 'rejoin'],
  room_full: ['The call is full. Ask the customer to close the call on their other devices, then rejoin.', 'rejoin'],
  server_full: ['The video server is at capacity right now. Try again in a minute.', 'rejoin'],
  connection_lost: ['The connection to the call was lost. Check your network, then rejoin the call.', 'rejoin'],
  INVALID_OPERATION: ['The call could not start on this page. Reload the console.', ''],
  BAD_ENVIRONMENT: ['This browser cannot make video calls. Use a current Chrome, Edge, Firefox or Safari.', ''],
  internal: ['The server failed. Try again; if it keeps failing, tell your supervisor.', 'retry'],
  network: ['Could not reach the server. Check your network connection and try again.', 'retry'],
  timeout: ['The server did not answer in time. Try again.', 'retry'],

  // The camera and microphone (getUserMedia)
  NotAllowedError: ['The browser blocked the camera and microphone. Allow them in the site settings (the icon left of the address), then rejoin.', 'rejoin'],
  SecurityError: ['The browser blocked the camera and microphone on this page (it must be served over https). Open the console over https.', ''],
  NotFoundError: ['No camera or microphone was found. Connect one, then rejoin.', 'rejoin'],
  NotReadableError: ['The camera or microphone is in use by another program. Close that program (another call, a video app), then rejoin.', 'rejoin'],
  OverconstrainedError: ['The camera cannot give the requested picture size. Choose another camera, then rejoin.', 'rejoin'],
  AbortError: ['The camera could not be started. Unplug and plug it back in, then rejoin.', 'rejoin'],
  NOT_SUPPORTED: ['This page cannot use a camera here (it must be served over https).', ''],
};

/**
 * The sentence for a code (with the server's message when the code is unknown).
 * @param {string} code @param {string} [message] the server's message, shown for a code not listed
 */
export function explain(code, message) {
  const hit = TEXT[code];
  if (hit) return hit[0];
  if (/^http_5\d\d$/.test(code)) return TEXT.internal[0];
  return message ? `${message} (${code})` : `Something went wrong (${code}). Try again.`;
}

/** The way out a page may offer for a code: 'retry', 'sign-in', 'rejoin' or ''. */
export function wayOut(code) {
  return TEXT[code]?.[1] ?? (/^http_5\d\d$/.test(code) ? 'retry' : '');
}

/**
 * Calls the API with a bearer token. Resolves the JSON reply; throws {code, message, status} on an error answer
 * (the server's code, or http_NNN) and {code: 'network'} when the server cannot be reached.
 * @param {string} path @param {{method?: string, token?: string|null, body?: any}} [o]
 */
export async function api(path, { method = 'GET', token = null, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (err) {
    throw { code: 'network', message: String(err?.message ?? err) };
  }
  const reply = await res.json().catch(() => null);
  if (!res.ok) throw { code: reply?.code ?? `http_${res.status}`, message: reply?.message ?? res.statusText, status: res.status };
  return reply;
}
