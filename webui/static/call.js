// The customer's page (/call): joins at once, shows the agent large and the own camera in a corner.
import { hooks, params, setState, randomUid, getToken, startCall, markToggle, showNotice } from './page.js';
import { watchCustomerNetwork } from './quality.js';

const $ = (id) => document.getElementById(id);
let call = null;
let audioOnlyNotice = false; // the notice shows autoAudioOnly's "camera off"

async function join() {
  if (!['idle', 'ended', 'error'].includes(hooks.state)) return;
  showNotice('');
  audioOnlyNotice = false;
  markToggle($('mute-audio'), false, 'Unmute', 'Mute');
  markToggle($('mute-video'), false, 'Camera on', 'Camera off');
  setState('connecting');
  const room = params.get('room') || 'demo';
  const uid = params.get('uid') || randomUid();
  try {
    const { token, renew } = await getToken({ token: params.get('token'), room, uid, tag: 'customer' });
    call = startCall({
      room, uid, token, renew, codec: params.get('codec') ?? undefined, profile: params.get('profile') ?? undefined,
      fit: 'cover', onNotice: showNotice, autoAudioOnly: params.get('autoaudioonly') === '1',
    });
    watchCustomerNetwork(call.client);
    // autoAudioOnly turned the camera off on a "switch to voice" tip: say so, and offer it back.
    call.client.on('audio-only', () => {
      markToggle($('mute-video'), true, 'Camera on', 'Camera off');
      audioOnlyNotice = true;
      showNotice('Your camera is off to keep the call going on a poor network.', { label: 'Camera on', run: toggleVideo });
    });
  } catch (err) {
    setState('error', err.message);
  }
}

$('answer').addEventListener('click', join);
$('mute-audio').addEventListener('click', () => markToggle($('mute-audio'), call?.toggleAudio(), 'Unmute', 'Mute'));
function toggleVideo() {
  markToggle($('mute-video'), call?.toggleVideo(), 'Camera on', 'Camera off');
  if (audioOnlyNotice && !hooks.localStream?.muted.video) { audioOnlyNotice = false; showNotice(''); }
}
$('mute-video').addEventListener('click', toggleVideo);
$('hangup').addEventListener('click', () => call?.hangup());

if (params.get('autojoin') !== '0') join();
