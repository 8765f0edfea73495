// The pilot page's decisions, apart from the page: when a control goes out, what it says, and
// when sending must stop. No DOM, no timers, no clock of its own (every call gets `now` in
// seconds), so every safety rule is tested directly under node (tests/node/pilotcore.test.cjs)
// and the page (pilot.js) only turns browser events into calls and messages into frames.
//
// The rules:
// * Input goes out only while the page is active (visible and focused) and driving is engaged
//   (this tab is the pilot and Enable is on). The moment either stops, exactly one neutral
//   control goes out and then nothing: the server's failsafe is the backstop, and a tab in the
//   background (throttled to 1 Hz by the browser) can never keep an old command alive.
// * While sending, the whole input state is re-sent at SEND_HZ even when nothing changes, so the
//   server can tell "finger held still" from "finger gone". A change goes out at once, at most
//   CAP_HZ often; a release, and a key pressed or let go, go out at once whatever the cap says.
// * The input kind that moved last drives (touch, keyboard or pad); what it sends is the wire's
//   standard layout, the same numbering the desktop app uses for a pad SDL knows.
// * Hold-to-drive: while on, the input is sent as neutral unless the hold control is held.
"use strict";

(function (root, factory) {
  // the protocol's names (wire.js): the page's global, or under node the module beside this file
  const names = typeof module === "object" && module.exports ? require("./wire.js") : wire;  // a global const: not on window
  const api = factory(names);
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.PilotCore = api;
})(typeof self !== "undefined" ? self : this, function (wire) {
  /** Re-send rate: the desktop app's default. */
  const SEND_HZ = 50;
  /** A change goes out at once, at most this often (the server's limit is far above). */
  const CAP_HZ = 250;
  /** Pad sticks rest a little off centre; below this they read as centred. */
  const PAD_DEADZONE = 0.08;

  /** teleop.wire.layout.STANDARD_AXES and STANDARD_BUTTONS: SDL's GameController order. */
  const STANDARD_AXES = ["leftx", "lefty", "rightx", "righty", "lefttrigger", "righttrigger"];
  const STANDARD_BUTTONS = [
    "a", "b", "x", "y", "back", "guide", "start", "leftstick", "rightstick", "leftshoulder", "rightshoulder",
    "dpup", "dpdown", "dpleft", "dpright", "misc1", "paddle1", "paddle2", "paddle3", "paddle4", "touchpad",
  ];
  /** Where each named button is in the W3C Gamepad API's "standard" mapping. */
  const W3C_BUTTON = {
    a: 0, b: 1, x: 2, y: 3, leftshoulder: 4, rightshoulder: 5, back: 8, start: 9,
    leftstick: 10, rightstick: 11, dpup: 12, dpdown: 13, dpleft: 14, dpright: 15, guide: 16,
  };
  const W3C_LEFT_TRIGGER = 6;
  const W3C_RIGHT_TRIGGER = 7;
  /** The pad button that must be held while hold-to-drive is on (the desktop app's usual choice). */
  const HOLD_BUTTON = "rightshoulder";

  const KEY_AXES = {
    ArrowLeft: ["x", -1], KeyA: ["x", -1], ArrowRight: ["x", 1], KeyD: ["x", 1],
    ArrowUp: ["y", -1], KeyW: ["y", -1], ArrowDown: ["y", 1], KeyS: ["y", 1],
  };
  const STOP_KEYS = new Set(["Space", "Escape"]);
  /** Keys that step the keyboard's speed (the desktop app's - and +), and by how much a press. */
  const SPEED_KEYS = { Minus: -1, NumpadSubtract: -1, Equal: 1, NumpadAdd: 1 };
  const KEY_SPEED_STEP = 0.1;
  const KEY_SPEED_MIN = 0.1;

  const clamp = (v, lo, hi) => (v < lo ? lo : v > hi ? hi : v);
  const round = (v) => Math.round(v * 1000) / 1000 || 0;  // || 0: never -0 on the wire

  /** A pad's state as the wire's standard layout ({axes, buttons, layout}), from a Gamepad object.
   *  A pad the browser has no standard mapping for goes as "raw": its own numbering, as the
   *  desktop app sends a pad SDL does not know. */
  function fromGamepad(pad) {
    const pressed = (b) => (b && (b.pressed || b.value > 0.5) ? 1 : 0);
    const dead = (v) => (Math.abs(v) < PAD_DEADZONE ? 0 : round(clamp(v, -1, 1)));
    if (pad.mapping !== "standard") {
      return {
        layout: "raw",
        axes: Array.from(pad.axes).slice(0, 32).map(dead),
        buttons: Array.from(pad.buttons).slice(0, 64).map(pressed),
      };
    }
    const axis = (i) => dead(pad.axes[i] || 0);
    const trigger = (i) => round(clamp(pad.buttons[i] ? pad.buttons[i].value : 0, 0, 1));
    return {
      layout: "standard",
      axes: [axis(0), axis(1), axis(2), axis(3), trigger(W3C_LEFT_TRIGGER), trigger(W3C_RIGHT_TRIGGER)],
      buttons: STANDARD_BUTTONS.map((name) => (name in W3C_BUTTON ? pressed(pad.buttons[W3C_BUTTON[name]]) : 0)),
    };
  }

  /** A touch stick's deflection: the finger's offset from where it went down, over the stick's
   *  radius, kept inside the unit circle; y grows downwards, as a pad's does. */
  function stickVector(origin, point, radius) {
    if (!(radius > 0)) return { x: 0, y: 0 };
    let x = (point.x - origin.x) / radius;
    let y = (point.y - origin.y) / radius;
    const length = Math.hypot(x, y);
    if (length > 1) { x /= length; y /= length; }
    return { x: round(x), y: round(y) };
  }

  /** The left stick the held keys make (arrows or W A S D); opposite keys cancel. */
  function keyStick(held) {
    const out = { x: 0, y: 0 };
    for (const code of held) {
      const entry = KEY_AXES[code];
      if (entry) out[entry[0]] += entry[1];
    }
    return { x: clamp(out.x, -1, 1), y: clamp(out.y, -1, 1) };
  }

  /** Whether a key event belongs to the pilot page, not to a text field that has the focus. */
  function keyIsForDriving(target) {
    if (!target) return true;
    const tag = (target.tagName || "").toUpperCase();
    if (target.isContentEditable) return false;
    if (tag === "TEXTAREA" || tag === "SELECT") return false;
    if (tag === "INPUT") {
      const type = (target.type || "text").toLowerCase();
      return ["button", "checkbox", "radio", "range", "submit", "reset"].includes(type);
    }
    return true;
  }

  function neutralState() {
    return { axes: [0, 0, 0, 0, 0, 0], buttons: STANDARD_BUTTONS.map(() => 0), layout: "standard" };
  }

  function isNeutral(state) {
    return state.axes.every((v) => v === 0) && state.buttons.every((v) => v === 0);
  }

  class Pilot {
    constructor({ sendHz = SEND_HZ, capHz = CAP_HZ } = {}) {
      this.period = 1 / sendHz;
      this.gap = 1 / capHz;
      this.visible = true;
      this.focused = true;
      this.pilot = false;      // the server says this connection is the pilot
      this.enabled = false;    // the user pressed Enable
      this.holdToDrive = false;
      this.holdTouch = false;  // the on-screen hold button is pressed
      this.touch = { left: { x: 0, y: 0 }, right: { x: 0, y: 0 } };
      this.keys = new Set();
      this.keySpeed = 1;       // the fraction of full deflection a driving key gives (- and +)
      this.pad = null;         // the last fromGamepad() state
      this.kind = null;        // "touch" | "keyboard" | "gamepad": what moved last
      this.seq = 0;
      this.lastSent = -Infinity;
      this.dirty = false;
      this.urgent = false;
      this.wasSending = false;
    }

    /** True while input goes out: the page is visible and focused, this tab is the pilot, Enable is on. */
    get sending() {
      return this.visible && this.focused && this.pilot && this.enabled;
    }

    /** The page became visible or hidden, focused or blurred (visibilitychange, pagehide,
     *  freeze, blur, focus). Returns the one neutral control to send if sending just stopped. */
    setPage({ visible = this.visible, focused = this.focused }, now) {
      this.visible = visible;
      this.focused = focused;
      if (!visible || !focused) {
        this.keys.clear();  // a key let go while the page was away never sends its keyup here
        this.touch.left = { x: 0, y: 0 };
        this.touch.right = { x: 0, y: 0 };
        this.holdTouch = false;
      }
      return this._edge(now);
    }

    /** The server made this connection pilot, or took it away. */
    setPilot(pilot, now) {
      this.pilot = pilot;
      return this._edge(now);
    }

    /** Enable on or off (the e-stop turns it off). */
    setEnabled(enabled, now) {
      this.enabled = enabled;
      return this._edge(now);
    }

    setHoldToDrive(on) {
      this.holdToDrive = on;
      this._changed(true);
    }

    /** The on-screen hold button pressed or let go. */
    holdButton(down) {
      this.holdTouch = down;
      this._changed(!down);
    }

    /** A touch stick moved ("left" or "right"). */
    touchMove(stick, vector) {
      this.touch[stick] = { x: vector.x, y: vector.y };
      this.kind = "touch";
      this._changed(false);
    }

    /** A touch stick was let go, cancelled or lost its pointer capture: centred, sent at once. */
    touchRelease(stick) {
      this.touch[stick] = { x: 0, y: 0 };
      this._changed(true);
    }

    /** A driving key went down or up. Returns true if the key is one the page drives with.
     *  A key is one discrete change, not a stream like a finger's moves, so it goes out at once
     *  whatever the cap (waiting out the cap on a timer costs a busy browser a frame or more);
     *  the keyboard's auto-repeat of a held key changes nothing and sends nothing extra. */
    key(code, down) {
      if (!(code in KEY_AXES) && code !== "ShiftLeft" && code !== "ShiftRight") return false;
      if (down === this.keys.has(code)) return true;
      if (down) {
        this.keys.add(code);
        if (code in KEY_AXES) this.kind = "keyboard";  // Shift (the hold key) alone does not switch inputs
      } else this.keys.delete(code);
      this._changed(true);
      return true;
    }

    /** - or + (``direction`` -1 or 1): the keyboard's speed one step down or up, within 10..100 %.
     *  A held key's new deflection goes out like a key press. */
    stepKeySpeed(direction) {
      const next = round(clamp(this.keySpeed + direction * KEY_SPEED_STEP, KEY_SPEED_MIN, 1));
      if (next === this.keySpeed) return;
      this.keySpeed = next;
      if (this.kind === "keyboard") this._changed(true);
    }

    /** The pad's state now (fromGamepad), polled by the page; null when no pad is connected. */
    padState(state) {
      const before = this.pad;
      this.pad = state;
      const same = before && state && before.layout === state.layout &&
        before.axes.join() === state.axes.join() && before.buttons.join() === state.buttons.join();
      if (same || (!before && !state)) return;
      if (state && !isNeutral(state)) this.kind = "gamepad";
      this._changed(!state || isNeutral(state));
    }

    /** Whether the hold control is held (true when hold-to-drive is off). */
    get held() {
      if (!this.holdToDrive) return true;
      if (this.holdTouch || this.keys.has("ShiftLeft") || this.keys.has("ShiftRight")) return true;
      return Boolean(this.pad && this.pad.layout === "standard" &&
        this.pad.buttons[STANDARD_BUTTONS.indexOf(HOLD_BUTTON)]);
    }

    /** The input state the pilot means now, in the wire's layout. */
    state() {
      const out = neutralState();
      if (this.kind === "touch") {
        out.axes = [this.touch.left.x, this.touch.left.y, this.touch.right.x, this.touch.right.y, 0, 0];
      } else if (this.kind === "keyboard") {
        const stick = keyStick(this.keys);
        out.axes = [round(stick.x * this.keySpeed), round(stick.y * this.keySpeed), 0, 0, 0, 0];
      } else if (this.kind === "gamepad" && this.pad) {
        out.axes = this.pad.axes.slice();
        out.buttons = this.pad.buttons.slice();
        out.layout = this.pad.layout;
      }
      if (!this.held) return neutralState();
      return out;
    }

    /** The control to send now, or null. Call on every input event and when nextAt() comes. */
    tick(now) {
      if (!this.sending) return null;
      const due = now - this.lastSent >= this.period - 1e-9;
      const allowed = this.urgent || now - this.lastSent >= this.gap - 1e-9;
      if (!due && !(this.dirty && allowed)) return null;
      return this._message(this.state(), now);
    }

    /** When tick() next has something to send (Infinity while not sending). */
    nextAt() {
      if (!this.sending) return Infinity;
      if (this.dirty) return this.urgent ? this.lastSent : this.lastSent + this.gap;
      return this.lastSent + this.period;
    }

    _changed(urgent) {
      this.dirty = true;
      this.urgent = this.urgent || urgent;
    }

    _edge(now) {
      const sending = this.sending;
      const stopped = this.wasSending && !sending;
      this.wasSending = sending;
      if (sending) this._changed(false);
      return stopped ? this._message(neutralState(), now) : null;
    }

    _message(state, now) {
      this.seq += 1;
      this.lastSent = now;
      this.dirty = false;
      this.urgent = false;
      const message = { type: wire.MessageType.CONTROL, seq: this.seq, t: now, axes: state.axes, buttons: state.buttons };
      if (state.layout === "standard") message.layout = "standard";
      if (this.kind) message.input = this.kind;
      return message;
    }
  }

  return {
    SEND_HZ, CAP_HZ, PAD_DEADZONE, STANDARD_AXES, STANDARD_BUTTONS, W3C_BUTTON, HOLD_BUTTON, STOP_KEYS, SPEED_KEYS,
    fromGamepad, stickVector, keyStick, keyIsForDriving, neutralState, isNeutral, Pilot,
  };
});
