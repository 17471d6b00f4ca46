// How the console and the call records page word a call: the customer's device and network as their page sent
// them (free-form JSON: docs/call-center.md), Agora's levels, durations and times.

export const LEVEL_WORDS = ['unknown', 'excellent', 'good', 'poor', 'bad', 'very bad', 'down'];

/** The browser and system in a user agent string, roughly (e.g. "Safari on iOS 17"). */
export function browserOf(ua) {
  if (typeof ua !== 'string' || !ua) return '';
  const browser = [
    [/Edg\/(\d+)/, 'Edge'], [/OPR\/(\d+)/, 'Opera'], [/SamsungBrowser\/(\d+)/, 'Samsung Internet'], [/MicroMessenger\/(\d+)/, 'WeChat'],
    [/(?:Chrome|CriOS)\/(\d+)/, 'Chrome'], [/(?:Firefox|FxiOS)\/(\d+)/, 'Firefox'], [/Version\/(\d+).*Safari/, 'Safari'],
  ].find(([re]) => re.test(ua));
  const os = [
    [/iPhone OS (\d+)/, 'iOS'], [/iPad.*OS (\d+)/, 'iPadOS'], [/Android (\d+)/, 'Android'], [/Windows NT/, 'Windows'],
    [/Mac OS X/, 'macOS'], [/CrOS/, 'ChromeOS'], [/Linux/, 'Linux'],
  ].find(([re]) => re.test(ua));
  const name = browser ? `${browser[1]} ${ua.match(browser[0])[1]}` : '';
  const sys = os ? `${os[1]}${ua.match(os[0])?.[1] ? ` ${ua.match(os[0])[1]}` : ''}` : '';
  return [name, sys].filter(Boolean).join(' on ');
}

/** One line about the customer's device: "Chrome 126 on Android 14 · 390×844", or '' when unknown. */
export function describeDevice(device) {
  if (!device || typeof device !== 'object') return '';
  const parts = [];
  const b = browserOf(device.ua ?? device.userAgent);
  if (b) parts.push(b);
  else if (device.platform) parts.push(String(device.platform));
  if (device.model) parts.push(String(device.model));
  const screen = device.screen && typeof device.screen === 'object' ? `${device.screen.width}×${device.screen.height}` : device.screen;
  if (screen) parts.push(String(screen).replace('x', '×'));
  return parts.join(' · ');
}

/**
 * The customer's network as their page knew it before the call (navigator.connection: effectiveType, downlink
 * Mbps, rtt ms), or Agora's level if the page sent one: {text, level} (level 0 when unknown).
 */
export function describeNetwork(network) {
  if (!network || typeof network !== 'object') return { text: '', level: 0 };
  const level = Number.isInteger(network.level) && network.level >= 0 && network.level <= 6 ? network.level : 0;
  const parts = [];
  if (level) parts.push(LEVEL_WORDS[level]);
  const type = network.effectiveType ?? network.type;
  if (type) parts.push(String(type));
  if (typeof network.downlink === 'number') parts.push(`${network.downlink} Mbps`);
  if (typeof network.rtt === 'number') parts.push(`${network.rtt} ms`);
  return { text: parts.join(' · '), level };
}

/** A duration in ms as m:ss, or h:mm:ss from an hour. */
export function clock(ms) {
  const s = Math.max(0, Math.floor((Number(ms) || 0) / 1000));
  const two = (n) => String(n).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

/** A duration in words for records: "1 min 05 s", "12.4 s", "—" when 0 or absent. */
export function duration(ms) {
  if (!(ms > 0)) return '—';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h ? `${h} h ` : ''}${m} min ${String(s % 60).padStart(2, '0')} s`;
}

/** A Unix-ms time as local date and time, '' when 0 or absent. */
export function when(ms) {
  if (!(ms > 0)) return '';
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export const OUTCOME_WORDS = {
  resolved: 'Resolved', 'follow-up': 'Follow-up needed', 'no-show': 'Customer did not show', dropped: 'Call dropped',
  other: 'Other', cancelled: 'Cancelled by the customer',
};

export const STATE_WORDS = {
  created: 'Link sent', queued: 'Waiting', answered: 'In call', ended: 'Ended', timeout: 'Nobody answered', cancelled: 'Cancelled',
};

/** A new element with properties and children (null and false children are skipped). */
export function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children.filter((c) => c != null && c !== false));
  return e;
}
