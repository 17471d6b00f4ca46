// The customer's event stream of a call (GET /api/calls/{id}/events, docs/call-center.md): the call center's
// stream reader (event-stream.js) with the page's handlers. A 404 is final too: the link names no call.
import { openEventStream } from './event-stream.js';

/**
 * @typedef {object} StreamHandlers
 * @property {(name: string, data: any) => void} event a named event with its JSON data
 * @property {(code: string, status: number) => void} fatal the server refused the stream for good (401, 403, 404)
 * @property {() => void} [open] the stream is (again) open
 * @property {() => void} [lost] the stream ended or failed; it reopens by itself
 */

/** Opens the stream and keeps it open until close(). @param {string} id @param {string} token @param {StreamHandlers} h */
export function watchCall(id, token, h) {
  return openEventStream(`/api/calls/${encodeURIComponent(id)}/events`, token, {
    refused: [401, 403, 404],
    onOpen: () => h.open?.(),
    onEvent: h.event,
    onDown: () => h.lost?.(),
    onRefused: (err) => h.fatal(err.code.startsWith('http_') ? (err.status === 404 ? 'call_not_found' : 'unauthorized') : err.code, err.status),
  });
}
