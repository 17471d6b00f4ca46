// "New call link" on the console in dev mode: POST /api/calls makes a call for a claim and returns the customer's
// link and its QR code, to show, copy or send. In production the claims system makes links with the operator
// key (docs/call-center.md), so the card only shows in dev mode.
import { api, explain } from './agent-errors.js';
import { devMode } from './agent-auth.js';

const $ = (id) => document.getElementById(id);

export async function initCallLinks({ logLine }) {
  if (!(await devMode())) return;
  $('new-call').hidden = false;
  $('new-call-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = $('new-call-error');
    err.hidden = true;
    try {
      const reply = await api('/api/calls', { method: 'POST', body: { claim: $('new-claim').value.trim(), customer: $('new-customer').value.trim() } });
      const link = new URL(reply.link, location.origin).href;
      $('new-call-link').href = link;
      $('new-call-link').textContent = link;
      $('new-call-qr').src = reply.qr;
      $('new-call-result').hidden = false;
      logLine('call link', `${reply.claim} · ${reply.customer}: ${reply.id}`);
    } catch (e) {
      err.textContent = explain(e.code, e.message);
      err.hidden = false;
    }
  });
  $('new-call-copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($('new-call-link').href);
      $('new-call-copy').textContent = 'Copied';
    } catch {
      $('new-call-copy').textContent = 'Select the link and copy it';
    }
    setTimeout(() => { $('new-call-copy').textContent = 'Copy link'; }, 2000);
  });
}
