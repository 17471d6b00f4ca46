// How a console rings: a phone-like double beep every 2 s made with WebAudio (no sound files), and the tab's
// title blinking "Incoming call", while at least one call rings; both stop when none does.

const RING_EVERY_MS = 2000;
const BLINK_EVERY_MS = 800;

/**
 * @param {{hooks: {sound: boolean, blink: boolean, soundBlocked: boolean}}} o hooks: what the tests read
 * @returns {{start: (label: string) => void, stop: () => void, unlock: () => Promise<void>}}
 */
export function createRinger({ hooks }) {
  const title = document.title;
  let audio = null;
  let ringTimer = 0;
  let blinkTimer = 0;
  let label = '';

  /** The AudioContext, made on first use; a browser may keep it suspended until the page gets a click. */
  function context() {
    if (!audio) {
      const Ctx = window.AudioContext ?? window.webkitAudioContext;
      if (!Ctx) return null;
      audio = new Ctx();
    }
    return audio;
  }

  /** Two short tones (440 + 480 Hz, the North American ring's pair), 0.4 s each with a 0.2 s gap. */
  function beep() {
    const ctx = context();
    if (!ctx) return;
    if (ctx.state !== 'running') {
      hooks.soundBlocked = true;
      ctx.resume().then(() => { hooks.soundBlocked = ctx.state !== 'running'; }, () => {});
      if (ctx.state !== 'running') return;
    }
    hooks.soundBlocked = false;
    const t0 = ctx.currentTime + 0.02;
    for (const start of [t0, t0 + 0.6]) {
      const gain = ctx.createGain();
      gain.gain.setValueAtTime(0, start);
      gain.gain.linearRampToValueAtTime(0.15, start + 0.02);
      gain.gain.setValueAtTime(0.15, start + 0.38);
      gain.gain.linearRampToValueAtTime(0, start + 0.4);
      gain.connect(ctx.destination);
      for (const hz of [440, 480]) {
        const osc = ctx.createOscillator();
        osc.frequency.value = hz;
        osc.connect(gain);
        osc.start(start);
        osc.stop(start + 0.42);
      }
    }
  }

  return {
    start(text) {
      label = text;
      if (!ringTimer) {
        beep();
        ringTimer = setInterval(beep, RING_EVERY_MS);
        hooks.sound = true;
      }
      if (!blinkTimer) {
        let on = false;
        blinkTimer = setInterval(() => {
          on = !on;
          document.title = on ? `☎ ${label}` : title;
        }, BLINK_EVERY_MS);
        document.title = `☎ ${label}`;
        hooks.blink = true;
      }
    },
    stop() {
      clearInterval(ringTimer);
      clearInterval(blinkTimer);
      ringTimer = blinkTimer = 0;
      document.title = title;
      hooks.sound = hooks.blink = false;
    },
    /** Call from a click: lets the page make sound from then on. */
    async unlock() {
      const ctx = context();
      if (ctx && ctx.state !== 'running') await ctx.resume().catch(() => {});
      hooks.soundBlocked = !!ctx && ctx.state !== 'running';
    },
  };
}
