// The pilot page's safety rules, tested directly with a fake clock (node --test, no browser).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const core = require("../../server/dashboard/pilotcore.js");

const PERIOD = 1 / core.SEND_HZ;

function driving(options) {
  const pilot = new core.Pilot(options);
  pilot.setPilot(true, 0);
  pilot.setEnabled(true, 0);
  return pilot;
}

/** Every control tick() returns from `from` to `to` seconds, polled every millisecond. */
function run(pilot, from, to) {
  const sent = [];
  for (let t = from; t <= to + 1e-9; t += 0.001) {
    const message = pilot.tick(t);
    if (message) sent.push(message);
  }
  return sent;
}

test("nothing goes out until this tab is pilot and Enable is on", () => {
  const pilot = new core.Pilot();
  pilot.touchMove("left", { x: 0.5, y: 0 });
  assert.equal(run(pilot, 0, 0.2).length, 0);
  pilot.setPilot(true, 0.2);
  assert.equal(run(pilot, 0.2, 0.4).length, 0, "pilot but not enabled");
  pilot.setEnabled(true, 0.4);
  assert.ok(run(pilot, 0.4, 0.5).length > 0);
});

test("input is re-sent at the fixed rate while the finger is held still", () => {
  const pilot = driving();
  pilot.touchMove("left", { x: 0.5, y: -0.25 });
  const sent = run(pilot, 0, 1);
  assert.ok(sent.length >= core.SEND_HZ - 1 && sent.length <= core.SEND_HZ + 2, `${sent.length} sends in 1 s`);
  for (const message of sent) assert.deepEqual(message.axes.slice(0, 2), [0.5, -0.25]);
  const gaps = sent.slice(1).map((m, i) => m.t - sent[i].t);
  assert.ok(Math.max(...gaps) <= PERIOD + 0.0015, `largest gap ${Math.max(...gaps)}`);
  assert.deepEqual(sent.map((m) => m.seq), sent.map((_, i) => sent[0].seq + i), "seq counts up by one");
});

test("a change goes out at once, capped, and a release at once whatever the cap", () => {
  const pilot = driving();
  pilot.tick(0);
  pilot.touchMove("left", { x: 0.3, y: 0 });
  const moved = pilot.tick(0.005);
  assert.equal(moved && moved.axes[0], 0.3, "well before the next re-send");
  pilot.touchMove("left", { x: 0.4, y: 0 });
  assert.equal(pilot.tick(0.006), null, "the cap spaces moves");
  assert.ok(Math.abs(pilot.nextAt() - (0.005 + 1 / core.CAP_HZ)) < 1e-9);
  pilot.touchRelease("left");
  const released = pilot.tick(0.0065);
  assert.ok(released, "a release is not held back by the cap");
  assert.ok(core.isNeutral(released));
});

for (const [event, change] of [
  ["visibilitychange to hidden", { visible: false }],
  ["pagehide", { visible: false }],
  ["freeze", { visible: false }],
  ["blur", { focused: false }],
]) {
  test(`${event}: exactly one neutral, then nothing`, () => {
    const pilot = driving();
    pilot.padState(core.fromGamepad(fakePad({ axes: [0.9, 0, 0, 0] })));
    assert.ok(run(pilot, 0, 0.1).length > 0);
    const stop = pilot.setPage(change, 0.1);
    assert.ok(stop && core.isNeutral(stop), "one neutral when sending stops");
    pilot.padState(core.fromGamepad(fakePad({ axes: [1, 0, 0, 0] })));  // a pad still read in the background
    pilot.touchMove("left", { x: 1, y: 0 });
    assert.deepEqual(run(pilot, 0.1, 5), [], "nothing after the neutral");
    assert.equal(pilot.setPage(change, 5), null, "a second hide sends no second neutral");
    assert.equal(pilot.nextAt(), Infinity);
  });
}

test("coming back after a hide drives again, from centred sticks", () => {
  const pilot = driving();
  pilot.touchMove("left", { x: 0.7, y: 0 });
  pilot.setPage({ visible: false }, 0.1);
  assert.equal(pilot.setPage({ visible: true }, 1), null);
  const [first] = run(pilot, 1, 1.01);
  assert.ok(first && core.isNeutral(first), "a finger that lifted while the page was away is not remembered");
});

test("losing pilot or pressing the e-stop (Enable off) sends one neutral and stops", () => {
  for (const stop of [(p, t) => p.setPilot(false, t), (p, t) => p.setEnabled(false, t)]) {
    const pilot = driving();
    pilot.key("KeyD", true);
    run(pilot, 0, 0.1);
    const message = stop(pilot, 0.1);
    assert.ok(message && core.isNeutral(message));
    assert.deepEqual(run(pilot, 0.1, 1), []);
  }
});

test("hold-to-drive sends neutral, still at the rate, unless the hold control is held", () => {
  const pilot = driving();
  pilot.setHoldToDrive(true);
  pilot.touchMove("left", { x: 0.8, y: 0 });
  const idle = run(pilot, 0, 0.5);
  assert.ok(idle.length > 20 && idle.every(core.isNeutral), "neutral, re-sent, while the hold button is up");
  pilot.holdButton(true);
  assert.equal(pilot.tick(0.51).axes[0], 0.8);
  pilot.holdButton(false);
  assert.ok(core.isNeutral(pilot.tick(0.511)), "letting go of the hold button is a release: sent at once");
  const pad = core.fromGamepad(fakePad({ axes: [0.6, 0, 0, 0], pressed: [5] }));  // right shoulder
  pilot.padState(pad);
  assert.equal(pilot.tick(0.6).axes[0], 0.6);
});

test("a standard pad maps to the wire's standard layout (the desktop app's numbering)", () => {
  const state = core.fromGamepad(fakePad({ axes: [0.5, -1, 0.25, 0.05], pressed: [0, 5, 9, 12], values: { 6: 0.4, 7: 1 } }));
  assert.equal(state.layout, "standard");
  assert.deepEqual(state.axes, [0.5, -1, 0.25, 0, 0.4, 1], "sticks, dead zone, then triggers from buttons 6 and 7");
  const held = core.STANDARD_BUTTONS.filter((_, i) => state.buttons[i]);
  assert.deepEqual(held, ["a", "start", "rightshoulder", "dpup"]);
  assert.equal(state.buttons.length, core.STANDARD_BUTTONS.length);
});

test("a pad without the standard mapping goes as raw, by number", () => {
  const state = core.fromGamepad({ mapping: "", axes: [0.5, 0.01, -1], buttons: [{ pressed: true, value: 1 }, { pressed: false, value: 0 }] });
  assert.deepEqual(state, { layout: "raw", axes: [0.5, 0, -1], buttons: [1, 0] });
  const pilot = driving();
  pilot.padState(state);
  const message = pilot.tick(0);
  assert.equal(message.layout, undefined, "absent layout means raw on the wire");
  assert.equal(message.input, "gamepad");
});

test("touch stick geometry: offset over radius, inside the unit circle, y down", () => {
  assert.deepEqual(core.stickVector({ x: 100, y: 100 }, { x: 150, y: 100 }, 100), { x: 0.5, y: 0 });
  assert.deepEqual(core.stickVector({ x: 100, y: 100 }, { x: 100, y: 40 }, 100), { x: 0, y: -0.6 });
  const far = core.stickVector({ x: 0, y: 0 }, { x: 300, y: 400 }, 100);
  assert.ok(Math.abs(Math.hypot(far.x, far.y) - 1) < 0.002 && Math.abs(far.x - 0.6) < 0.001);
  assert.deepEqual(core.stickVector({ x: 0, y: 0 }, { x: 5, y: 5 }, 0), { x: 0, y: 0 });
});

test("keys: arrows and W A S D make the left stick, opposite keys cancel, and each send names its input", () => {
  assert.deepEqual(core.keyStick(new Set(["ArrowRight", "KeyW"])), { x: 1, y: -1 });
  assert.deepEqual(core.keyStick(new Set(["KeyA", "KeyD"])), { x: 0, y: 0 });
  const pilot = driving();
  assert.equal(pilot.key("KeyQ", true), false, "not a driving key");
  pilot.key("ArrowLeft", true);
  const message = pilot.tick(0);
  assert.deepEqual([message.axes[0], message.input], [-1, "keyboard"]);
  pilot.key("ArrowLeft", false);
  assert.ok(core.isNeutral(pilot.tick(0.001)), "a key let go is a release: sent at once");
});

test("- and + step the keys' deflection by 10 % within 10..100 %, and a held key's new value goes out at once", () => {
  const pilot = driving();
  pilot.key("ArrowRight", true);
  assert.equal(pilot.tick(0).axes[0], 1);
  pilot.stepKeySpeed(-1);
  pilot.stepKeySpeed(-1);
  assert.equal(pilot.tick(0.001).axes[0], 0.8, "sent at once, not at the next re-send");
  for (let i = 0; i < 20; i++) pilot.stepKeySpeed(-1);
  assert.equal(pilot.keySpeed, 0.1);
  for (let i = 0; i < 20; i++) pilot.stepKeySpeed(1);
  assert.equal(pilot.keySpeed, 1);
  pilot.touchMove("left", { x: 0.5, y: 0 });
  pilot.stepKeySpeed(-1);
  assert.equal(pilot.tick(1).axes[0], 0.5, "a finger's stick is not scaled");
});

test("a key pressed right after a send goes out at once, and its auto-repeat sends nothing extra", () => {
  const pilot = driving();
  pilot.tick(0);
  pilot.key("KeyD", true);
  const pressed = pilot.tick(0.001);
  assert.equal(pressed && pressed.axes[0], 1, "not held back by the cap that spaces a finger's moves");
  assert.equal(pilot.key("KeyD", true), true, "a repeat is still a driving key");
  assert.equal(pilot.tick(0.002), null, "a repeat changes nothing: the next send is the fixed rate's");
  assert.ok(Math.abs(pilot.nextAt() - (0.001 + PERIOD)) < 1e-9);
});

test("keys typed into a text field never drive", () => {
  assert.equal(core.keyIsForDriving({ tagName: "INPUT", type: "text" }), false);
  assert.equal(core.keyIsForDriving({ tagName: "TEXTAREA" }), false);
  assert.equal(core.keyIsForDriving({ tagName: "DIV", isContentEditable: true }), false);
  assert.equal(core.keyIsForDriving({ tagName: "INPUT", type: "checkbox" }), true);
  assert.equal(core.keyIsForDriving({ tagName: "BODY" }), true);
});

test("the input that moved last drives", () => {
  const pilot = driving();
  pilot.touchMove("left", { x: 0.2, y: 0 });
  assert.equal(pilot.tick(0).input, "touch");
  pilot.padState(core.fromGamepad(fakePad({ axes: [-0.9, 0, 0, 0] })));
  const message = pilot.tick(0.01);
  assert.deepEqual([message.axes[0], message.input], [-0.9, "gamepad"]);
});

function fakePad({ axes = [0, 0, 0, 0], pressed = [], values = {} } = {}) {
  const buttons = Array.from({ length: 17 }, (_, i) => {
    const value = i in values ? values[i] : pressed.includes(i) ? 1 : 0;
    return { pressed: value > 0.5, value };
  });
  return { id: "test pad", mapping: "standard", axes, buttons };
}
