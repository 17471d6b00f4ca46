// An agent's sign-in, shared by the console (/console) and the call records (/console/calls): the sign-in token
// (room call-center, tag agent, grants call_center and claim_tools; see docs/call-center.md) the operator issues,
// or in dev mode one this page mints. It is kept in localStorage for the shift, so both pages and a reload share
// it, and dropped when it expires or the agent signs out.
import { api } from './agent-errors.js';

const STORE = 'stoa.agent.token';
export const CENTER_ROOM = 'call-center';
/** A dev sign-in lasts a shift: 10 h (the server caps it at token_max_ttl). */
const DEV_TTL_S = 10 * 3600;

/**
 * The claims of a token (its JWT payload), or null if it does not look like one. The server verifies the
 * signature; this only reads the agent's id, grants and expiry to show them and to catch a wrong paste early.
 * @returns {{room: string, uid: string, tag?: string, can?: string[], exp?: number}|null}
 */
export function claimsOf(token) {
  const part = String(token ?? '').split('.')[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const c = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (ch) => ch.charCodeAt(0))));
    return c && typeof c === 'object' ? c : null;
  } catch {
    return null;
  }
}

/**
 * Why a token cannot be an agent's sign-in ('' if it can): the code for agent-errors.js's explain.
 * @param {string} token
 */
export function refuse(token) {
  const c = claimsOf(token);
  if (!c) return 'token_invalid';
  if (c.exp && c.exp * 1000 <= Date.now()) return 'token_expired';
  if (c.room !== CENTER_ROOM || !(c.can ?? []).includes('call_center')) return 'not_agent';
  return '';
}

/** The stored sign-in token, or '' (an expired one is dropped). */
export function loadToken() {
  const t = localStorage.getItem(STORE) ?? '';
  if (t && refuse(t) === 'token_expired') {
    localStorage.removeItem(STORE);
    return '';
  }
  return t;
}

export function saveToken(token) { localStorage.setItem(STORE, token); }
export function clearToken() { localStorage.removeItem(STORE); }

/** Whether the server runs in dev mode and this page may mint tokens. */
export async function devMode() {
  try {
    return !!(await api('/api/info')).devMode;
  } catch {
    return false;
  }
}

/** Mints an agent's sign-in token in dev mode (no key from loopback). @param {string} agentId */
export async function mintAgentToken(agentId) {
  const reply = await api('/api/token', {
    method: 'POST',
    body: { room: CENTER_ROOM, uid: agentId, role: 'host', tag: 'agent', ttl: DEV_TTL_S, can: ['call_center', 'claim_tools'] },
  });
  return reply.token;
}

/** Mints a token for a call's room in dev mode, to renew the agent's room token. */
export async function mintRoomToken(room, uid) {
  return (await api('/api/token', { method: 'POST', body: { room, uid: String(uid), role: 'host', tag: 'agent', can: ['claim_tools'] } })).token;
}

/** An agent id for dev sign-in from what was typed: letters, digits, - and _ (e.g. "Li Na" → "li-na"). */
export function agentIdFrom(text) {
  return String(text).trim().toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
}
