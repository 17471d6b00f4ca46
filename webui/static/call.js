// The customer's page (/call): joins at once, shows the agent large and the own camera in a corner.
import { hooks, params, setState, randomUid, getToken, startCall, markToggle, showNotice } from './page.js';

const $ = (id) => document.getElementById(id);
let call = null;

async function join() {
  if (!['idle', 'ended', 'error'].includes(hooks.state)) return;
  showNotice('');
  markToggle($('mute-audio'), false, 'Unmute', 'Mute');
  markToggle($('mute-video'), false, 'Camera on', 'Camera off');
  setState('connecting');
  const room = params.get('room') || 'demo';
  const uid = params.get('uid') || randomUid();
  try {
    const { token, renew } = await getToken({ token: params.get('token'), room, uid, tag: 'customer' });
    call = startCall({
      room, uid, token, renew, codec: params.get('codec') ?? undefined, profile: params.get('profile') ?? undefined,
      fit: 'cover', onNotice: showNotice,
    });
  } catch (err) {
    setState('error', err.message);
  }
}

$('answer').addEventListener('click', join);
$('mute-audio').addEventListener('click', () => markToggle($('mute-audio'), call?.toggleAudio(), 'Unmute', 'Mute'));
$('mute-video').addEventListener('click', () => markToggle($('mute-video'), call?.toggleVideo(), 'Camera on', 'Camera off'));
$('hangup').addEventListener('click', () => call?.hangup());

if (params.get('autojoin') !== '0') join();
