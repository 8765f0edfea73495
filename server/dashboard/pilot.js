// teleop pilot page: drive from a phone or any browser. Browser events in, WebSocket frames out;
// every decision about what to send and when is PilotCore's (pilotcore.js), tested on its own.
"use strict";

// Reconnect delays after a dropped link, in ms: the dashboard's, from one rule,
// teleop.common.backoff.DASHBOARD_RECONNECT_DELAYS (tests/common/test_backoff.py checks that they match).
const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000];

const $ = (id) => document.getElementById(id);
const core = new PilotCore.Pilot();
const now = () => performance.now() / 1000;
const TOKEN_KEY = "teleop.token";
const NAME_KEY = "teleop.pilotName";

const page = {
  ws: null,
  retry: 0,
  clientId: null,
  status: {},
  pilotTab: false,       // this tab holds the browser's pilot lock
  token: null,
  timer: null,
  lastReading: null,
  rtt: null,
  readings: {},
  wakeLock: null,
  padName: "",
  shownKind: null,       // the input the role line names
};

// -- the token: from the address's #token= (never sent to the server in a URL), kept on this device
function loadToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    localStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, "", location.pathname);  // off the screen and out of screenshots
  }
  page.token = fromHash || localStorage.getItem(TOKEN_KEY);
  showToken();
}

/** Settings say whether this device has a token; only then can it be forgotten. */
function showToken() {
  $("forget").hidden = !page.token;
  $("token-state").textContent = page.token ? "This device has a pilot token." : "No pilot token on this device: you can watch, not drive.";
}

// -- sending ------------------------------------------------------------------------------------
function send(message) {
  if (page.ws && page.ws.readyState === WebSocket.OPEN) page.ws.send(JSON.stringify(message));
}

/** Send what the core says is due now, and come back when the next one is due. */
function pump() {
  const message = core.tick(now());
  if (message) send(message);
  clearTimeout(page.timer);
  const at = core.nextAt();
  if (at !== Infinity) page.timer = setTimeout(pump, Math.max(0, (at - now()) * 1000));
  syncWakeLock();
  if (core.kind !== page.shownKind) showRole();  // "Driving with keyboard" the moment a key, a finger or a pad takes over
}

/** Hidden, frozen, left, blurred or back: one neutral when sending stops, then nothing. */
function pageChanged(override) {
  const state = { visible: document.visibilityState === "visible", focused: document.hasFocus(), ...override };
  const neutral = core.setPage(state, now());
  if (neutral) send(neutral);
  pump();
  showRole();
}
document.addEventListener("visibilitychange", () => pageChanged());
document.addEventListener("freeze", () => pageChanged({ visible: false }));
document.addEventListener("resume", () => pageChanged());
window.addEventListener("pagehide", () => pageChanged({ visible: false }));
window.addEventListener("pageshow", () => pageChanged());
window.addEventListener("blur", () => pageChanged({ focused: false }));
window.addEventListener("focus", () => pageChanged());

// -- the connection -------------------------------------------------------------------------------
function setConnection(kind, text) {
  $("connection").dataset.state = kind;
  $("connection").textContent = text;
  $("estop").disabled = kind !== "connected";
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/`);
  page.ws = ws;
  setConnection("connecting", page.retry ? "reconnecting…" : "connecting…");
  const hello = { type: wire.MessageType.HELLO, role: wire.Role.OBSERVER, client: pilotName(), version: "web", input: defaultInput() };
  if (page.token) hello.token = page.token;
  video.setToken(page.token);
  ws.onopen = () => { ws.send(JSON.stringify(hello)); ping(ws); };
  ws.onmessage = (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch (e) { return; }
    handle(message);
  };
  ws.onclose = (event) => {
    page.ws = null;
    page.clientId = null;
    core.setPilot(false, now());  // nothing to send it on; the server's failsafe has the robot
    showRole();
    if (event.code === wire.CloseCode.POLICY_VIOLATION) {
      setConnection("refused", `refused: ${event.reason || "policy"}`);
      setTimeout(connect, 10000);
      return;
    }
    const delay = RECONNECT_DELAYS_MS[Math.min(page.retry++, RECONNECT_DELAYS_MS.length - 1)];
    setConnection("reconnecting", "disconnected, retrying…");
    setTimeout(connect, delay);
  };
}

function handle(message) {
  switch (message.type) {
    case wire.MessageType.WELCOME:
      page.retry = 0;
      page.clientId = message.client_id;
      setConnection("connected", "connected");
      showReadings(message.readings || {}, false);
      showStatus(message.status || {});
      break;
    case wire.MessageType.STATUS: showStatus(message); break;
    case wire.MessageType.READING: showReadings(message.values || {}, true); break;
    case wire.MessageType.PONG:
      page.rtt = Date.now() / 1000 - message.t;
      video.pong(message, Date.now() / 1000);
      break;
    case wire.MessageType.ERROR: notice(errorText(message), message.code); break;
    case wire.MessageType.EVENT: if (message.level !== wire.EventLevel.INFO) notice(message.text, "event"); break;
  }
}

/** The server's words, except where they point at the desktop app's settings: this page has its own. */
function errorText(message) {
  if (message.code !== wire.ErrorCode.UNAUTHORIZED) return message.message;
  return page.token
    ? `${message.message}. Enter the right one under Settings, below.`
    : "Driving needs this robot's pilot token: open the address teleop-server printed (or scan the app's QR code), or enter the token under Settings, below.";
}

function ping(ws) {
  let n = 0;
  const next = () => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: wire.MessageType.PING, id: n, t: Date.now() / 1000 }));
    n += 1;
    setTimeout(next, n < 5 ? 200 : 1000);
  };
  next();
}

function showStatus(status) {
  page.status = status;
  const pilot = status.pilot;
  const mine = Boolean(pilot && page.clientId !== null && pilot.id === page.clientId);
  const lost = core.pilot && !mine;
  core.setPilot(mine, now());  // losing pilot: the server already put the robot at neutral
  if (lost || status.estop) setEnabled(false);
  video.camera(status);
  const cap = typeof status.speed_cap === "number" ? status.speed_cap : 1;  // the robot's limit, said large
  $("speed").hidden = cap >= 1;
  $("speed-cap").textContent = `${Math.round(cap * 100)}%`;
  showRole();
  pump();
}

function showRole() {
  const s = page.status;
  const pilot = s.pilot;
  const mine = core.pilot;
  const who = pilot ? `${pilot.name}${pilot.input ? " (" + pilot.input + ")" : ""}` : "nobody";
  let text;
  if (!page.pilotTab) text = "Watching: another tab of this browser is the pilot tab.";
  else if (!page.clientId) text = "Not connected.";
  else if (s.estop) text = mine ? "EMERGENCY STOP engaged: press Enable to resume." : `EMERGENCY STOP engaged. Pilot: ${who}.`;
  else if (mine && core.sending) text = `Driving${core.kind ? " with " + core.kind : ""}${keySpeedText()}${core.holdToDrive && !core.held ? " (hold to drive)" : ""}.`;
  else if (mine && !core.enabled) text = "You are pilot: press Enable to drive.";
  else if (mine) text = "You are pilot; paused while this page is hidden or not focused.";
  else text = `Watching. Pilot: ${who}.`;
  $("role").textContent = text;
  page.shownKind = core.kind;
  document.body.dataset.role = !page.pilotTab ? "watcher" : mine ? (core.sending ? "driving" : "pilot") : "observer";
  $("take").disabled = !page.pilotTab || !page.clientId;
  $("take").textContent = mine ? "Release" : "Take control";
  $("enable").disabled = !mine;
  $("enable").setAttribute("aria-pressed", String(core.enabled));
  $("enable").textContent = core.enabled ? "Enabled" : "Enable";
  $("hold").hidden = !core.holdToDrive;
}

/** The keys' speed, when it is not full: said beside "Driving with keyboard". */
function keySpeedText() {
  return core.kind === "keyboard" && core.keySpeed < 1 ? ` at ${Math.round(core.keySpeed * 100)}% (- and +)` : "";
}

function notice(text, kind) {
  const el = $("notice");
  el.textContent = text;
  el.dataset.kind = kind || "";
  el.hidden = false;
  clearTimeout(el.timer);
  el.timer = setTimeout(() => { el.hidden = true; }, 8000);
}

function showReadings(values, arrived) {
  if (arrived) page.lastReading = Date.now();
  Object.assign(page.readings, values);
  const names = Object.keys(page.readings).filter((k) => typeof page.readings[k] === "number")
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true })).slice(0, 12);
  if (!names.length) return;
  $("readings").replaceChildren(...names.map((name) => {
    const li = document.createElement("li");
    const v = page.readings[name];
    li.dataset.name = name;
    li.innerHTML = "<span></span><b></b>";
    li.firstChild.textContent = name;
    li.lastChild.textContent = Number.isInteger(v) ? String(v) : v.toFixed(2);
    return li;
  }));
  showMoreReadings();
}

/** Which side of the readings row has more to scroll to (its edge fades there). */
function showMoreReadings() {
  const row = $("readings");
  const left = row.scrollLeft > 1;
  const right = row.scrollLeft + row.clientWidth < row.scrollWidth - 1;
  const more = left && right ? "both" : left ? "left" : right ? "right" : "";
  if (row.dataset.more !== more) row.dataset.more = more;
}
$("readings").addEventListener("scroll", showMoreReadings, { passive: true });
window.addEventListener("resize", showMoreReadings);

setInterval(() => {
  const ms = (v) => (v === null || v === undefined ? "—" : `${Math.max(0, Math.round(v))} ms`);
  $("rtt").textContent = ms(page.rtt === null ? null : page.rtt * 1000);
  $("reading-age").textContent = ms(page.lastReading === null ? null : Date.now() - page.lastReading);
  $("frame-age").textContent = ms(video.age());
}, 250);

// -- buttons ----------------------------------------------------------------------------------------
function setEnabled(on) {
  core.setEnabled(on, now());  // a neutral from turning off is not needed: the e-stop or the server has it
  showRole();
  pump();
}

function emergencyStop() {
  send({ type: wire.MessageType.ESTOP, engaged: true });
  setEnabled(false);
}

$("estop").addEventListener("click", emergencyStop);
$("take").addEventListener("click", () => {
  if (core.pilot) {
    const neutral = core.setPilot(false, now());
    if (neutral) send(neutral);
    send({ type: wire.MessageType.RELEASE_CONTROL });
  } else {
    const request = { type: wire.MessageType.REQUEST_CONTROL, takeover: true };
    if (page.token) request.token = page.token;
    send(request);
  }
});
$("enable").addEventListener("click", () => {
  if (core.enabled) {
    const neutral = core.setEnabled(false, now());
    if (neutral) send(neutral);
    showRole();
    return;
  }
  if (page.status.estop) send({ type: wire.MessageType.ESTOP, engaged: false });
  setEnabled(true);
});
$("hold-mode").addEventListener("change", (event) => {
  core.setHoldToDrive(event.target.checked);
  localStorage.setItem("teleop.holdToDrive", event.target.checked ? "1" : "");
  showRole();
  pump();
});
$("fullscreen").addEventListener("click", () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen({ navigationUI: "hide" }).catch(() => {});
});
function useToken(token) {
  page.token = token || null;
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  video.setToken(page.token);
  $("token").value = "";
  showToken();
}
$("use-token").addEventListener("click", () => {
  const token = $("token").value.trim();
  if (!token) return;
  useToken(token);
  notice("Pilot token kept on this device: Take control to drive.", "info");
});
$("token").addEventListener("keydown", (event) => { if (event.key === "Enter") $("use-token").click(); });
$("forget").addEventListener("click", () => {
  useToken(null);
  notice("The pilot token is forgotten on this device; open the address teleop-server printed to drive again.", "info");
});
$("name").value = pilotName();
$("name").addEventListener("change", () => localStorage.setItem(NAME_KEY, $("name").value.trim().slice(0, 40)));

function pilotName() {
  return (localStorage.getItem(NAME_KEY) || "").trim() || (matchMedia("(pointer: coarse)").matches ? "phone pilot" : "browser pilot");
}

function defaultInput() {
  return matchMedia("(pointer: coarse)").matches ? "touch" : "keyboard";
}

// -- hold to drive: a thumb button between the sticks -------------------------------------------------
(() => {
  const button = $("hold");
  let id = null;
  button.addEventListener("pointerdown", (e) => {
    id = e.pointerId;
    button.setPointerCapture(id);
    button.classList.add("held");
    core.holdButton(true);
    pump();
    e.preventDefault();
  });
  const up = (e) => {
    if (e.pointerId !== id) return;
    id = null;
    button.classList.remove("held");
    core.holdButton(false);
    pump();
  };
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) button.addEventListener(type, up);
})();

// -- touch sticks: pointer events with capture, so a finger that slides off still steers ----------------
function stick(el) {
  const name = el.dataset.stick;
  const knob = el.querySelector(".knob");
  let id = null;
  const centre = () => {
    const r = el.getBoundingClientRect();
    return { origin: { x: r.left + r.width / 2, y: r.top + r.height / 2 }, radius: r.width * 0.38 };
  };
  const move = (e) => {
    const { origin, radius } = centre();
    const v = PilotCore.stickVector(origin, { x: e.clientX, y: e.clientY }, radius);
    knob.style.transform = `translate(${v.x * radius}px, ${v.y * radius}px)`;
    core.touchMove(name, v);
    pump();
  };
  el.addEventListener("pointerdown", (e) => {
    if (id !== null) return;
    id = e.pointerId;
    el.setPointerCapture(id);
    el.classList.add("active");
    move(e);
    e.preventDefault();
  });
  // pointerrawupdate (Chromium, secure contexts) comes as the finger moves; pointermove waits for the next frame
  const moveEvent = "onpointerrawupdate" in window ? "pointerrawupdate" : "pointermove";
  el.addEventListener(moveEvent, (e) => { if (e.pointerId === id) move(e); });
  // let go, cancelled by the system (a call, a gesture), or the capture lost: centred, sent at once
  const end = (e) => {
    if (e.pointerId !== id) return;
    id = null;
    el.classList.remove("active");
    knob.style.transform = "";
    core.touchRelease(name);
    pump();
  };
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) el.addEventListener(type, end);
}
document.querySelectorAll(".stick").forEach(stick);

// -- keyboard: only when no text field has the focus; Esc stops from anywhere ---------------------------
window.addEventListener("keydown", (e) => {
  const forDriving = PilotCore.keyIsForDriving(e.target);
  if (e.code === "Escape" || (e.code === "Space" && forDriving)) {
    e.preventDefault();
    if (!e.repeat) emergencyStop();
    return;
  }
  const plain = forDriving && !e.altKey && !e.ctrlKey && !e.metaKey;
  if (plain && e.code in PilotCore.SPEED_KEYS) {
    e.preventDefault();
    if (!e.repeat) {
      core.stepKeySpeed(PilotCore.SPEED_KEYS[e.code]);
      showRole();
      pump();
    }
    return;
  }
  if (plain && core.key(e.code, true)) {
    e.preventDefault();
    pump();
  }
});
window.addEventListener("keyup", (e) => {
  if (e.code === "Space" && PilotCore.keyIsForDriving(e.target)) e.preventDefault();  // no button click after a stop
  if (core.key(e.code, false)) pump();
});

// -- gamepads: read on every animation frame, and only while this page is visible and focused ---------
function pollPads() {
  if (document.visibilityState === "visible" && document.hasFocus() && navigator.getGamepads) {
    const pad = Array.from(navigator.getGamepads()).find((p) => p && p.connected);
    if (pad) {
      if (page.padName !== pad.id) {
        page.padName = pad.id;
        const standard = pad.mapping === "standard";
        $("pad").textContent = standard
          ? `Pad: ${pad.id}`
          : `Pad: ${pad.id} has no standard mapping in this browser: its sticks and buttons go by number and may not match the robot's mapping. Try another browser, or the desktop app.`;
        $("pad").className = standard ? "" : "warn";
        if (!standard) notice(`${pad.id}: no standard mapping in this browser; driving by number`, "pad");
      }
      core.padState(PilotCore.fromGamepad(pad));
      pump();
    } else if (core.pad) {
      core.padState(null);
      page.padName = "";
      $("pad").textContent = "No pad: press a button on your gamepad to use it.";
      pump();
    }
  }
  requestAnimationFrame(pollPads);
}
window.addEventListener("gamepadconnected", (e) => notice(`Pad connected: ${e.gamepad.id}`, "pad"));

// -- the screen stays on while driving; re-acquired when the page is visible again -----------------------
function syncWakeLock() {
  if (!("wakeLock" in navigator)) return;
  if (core.sending && !page.wakeLock) {
    page.wakeLock = "pending";
    navigator.wakeLock.request("screen").then((lock) => {
      page.wakeLock = lock;
      lock.addEventListener("release", () => { if (page.wakeLock === lock) page.wakeLock = null; });
      if (!core.sending) { lock.release(); page.wakeLock = null; }
    }).catch(() => { page.wakeLock = null; });
  } else if (!core.sending && page.wakeLock && page.wakeLock !== "pending") {
    page.wakeLock.release().catch(() => {});
    page.wakeLock = null;
  }
}

// -- one pilot tab per browser: the Web Lock's holder drives, every other tab watches ----------------------
function claimPilotTab(start) {
  const become = (pilotTab) => {
    page.pilotTab = pilotTab;
    showRole();
  };
  if (navigator.locks) {
    navigator.locks.request("teleop-pilot", { ifAvailable: true }, (lock) => {
      if (!lock) {
        become(false);
        // the pilot tab closes: this one takes its place
        navigator.locks.request("teleop-pilot", () => { become(true); return new Promise(() => {}); });
        return null;
      }
      become(true);
      return new Promise(() => {});  // held until this tab goes away
    });
  } else {
    // no Web Locks (a plain http:// address on the network is not a secure context): ask the other tabs
    const channel = new BroadcastChannel("teleop-pilot");
    let other = false;
    channel.onmessage = (e) => {
      if (e.data === "who" && page.pilotTab) channel.postMessage("me");
      if (e.data === "me") other = true;
    };
    channel.postMessage("who");
    setTimeout(() => become(!other), 300);
  }
  start();
}

loadToken();
core.setHoldToDrive(Boolean(localStorage.getItem("teleop.holdToDrive")));
$("hold-mode").checked = core.holdToDrive;
claimPilotTab(() => {
  connect();
  pageChanged();
  requestAnimationFrame(pollPads);
});
