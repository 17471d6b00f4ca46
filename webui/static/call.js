// The customer's page (/call), mobile-first. Three ways in:
// - a call link, /call?call=ID&token=T (POST /api/calls makes it): pre-join, queue, the call, the end
//   (customer-link.js);
// - a room link, /call?room=R&uid=U[&token=T][&codec=][&profile=][&autoaudioonly=1][&autojoin=0]: joins that room
//   at once (customer-direct.js), as the demo and the older browser tests use it;
// - a bare /call: nothing to join, and no camera: it says to open the link the customer was sent.
import { VERSION, createLogger } from '/sdk/stoa.js';
import { go, useLogger } from './customer-ui.js';
import { startCallLink } from './customer-link.js';
import { startDirect } from './customer-direct.js';

const params = new URLSearchParams(location.search);
const call = params.get('call');
const token = params.get('token');

document.body.dataset.mode = call && token ? 'link' : params.get('room') || token ? 'room' : 'none';
if (call && token) {
  const logger = createLogger({ token, call, fields: { staff: '', room: `call-${call}`, version: VERSION } });
  useLogger(logger);
  startCallLink({ id: call, token, params, logger });
} else if (params.get('room') || token) {
  startDirect({ params });
} else {
  go('no-link', { title: 'Open the link you were sent to start your video call.', reason: call ? 'no-token' : 'no-link' });
}
