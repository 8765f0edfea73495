// teleop dashboard: connects back to the server that served this page, as an observer.
// Message types, roles, close codes and event levels come from wire.js, generated from teleop/wire/protocol.py.
"use strict";

const PLOT_SECONDS = 30;
const DEFAULT_PLOT = ["A0", "A1", "O0", "disp"];
const COLORS = ["#2f80ed", "#eb5757", "#27ae60", "#f2994a", "#9b51e0", "#56ccf2"];
// Reconnect delays in ms before attempt 1, 2, 3, ...; the last repeats. The same numbers as
// teleop.common.backoff.DASHBOARD_RECONNECT_DELAYS (tests/common/test_backoff.py checks that they match).
const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000];

const $ = (id) => document.getElementById(id);
const state = {
  ws: null,
  retry: 0,
  latest: {},
  series: {},          // name -> {t: [], v: []}
  plotted: new Set(JSON.parse(localStorage.getItem("teleop.plot") || "null") || DEFAULT_PLOT),
  rows: {},
  plot: null,
  plotKeys: "",
  dirty: false,
};

function setConnection(kind, text) {
  const pill = $("connection");
  pill.dataset.state = kind;
  pill.textContent = text;
  $("estop").disabled = kind !== "connected";
  recording.connected(kind === "connected");
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/`);
  state.ws = ws;
  setConnection(state.retry ? "reconnecting" : "connecting", state.retry ? "reconnecting…" : "connecting…");
  // "#token=..." (as teleop-server prints the address) is only needed when the server
  // requires the token to watch; the fragment never leaves the browser except in this hello.
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  $("pilot-link").href = token ? `pilot#token=${encodeURIComponent(token)}` : "pilot";  // the pilot page drives with it
  showPilotQr(token);
  const hello = { type: wire.MessageType.HELLO, role: wire.Role.OBSERVER, client: "dashboard", version: "web" };
  if (token) hello.token = token;
  video.setToken(token);
  ws.onopen = () => {
    ws.send(JSON.stringify(hello));
    ping(ws);
  };
  ws.onmessage = (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch (e) { return; }
    handle(message);
  };
  ws.onclose = (event) => {
    state.ws = null;
    if (event.code === wire.CloseCode.POLICY_VIOLATION) {  // refused (no token where one is needed): say so, retry slowly
      setConnection("refused", `refused: ${event.reason || "policy"}; open the address teleop-server printed (with #token=)`);
      setTimeout(connect, 10000);
      return;
    }
    const delay = RECONNECT_DELAYS_MS[Math.min(state.retry++, RECONNECT_DELAYS_MS.length - 1)];
    setConnection("reconnecting", `disconnected, retrying in ${(delay / 1000).toFixed(1)} s`);
    setTimeout(connect, delay);
  };
}

// The pilot page's address as a QR code for a phone: this page's own address, with the token it was
// opened with (in the fragment, as teleop-server prints it). Drawn by the robot (/qr.svg), never cached.
function showPilotQr(token) {
  const url = `${location.origin}/pilot${token ? "#token=" + encodeURIComponent(token) : ""}`;
  $("pilot-qr").src = `qr.svg?text=${encodeURIComponent(url)}`;
  const local = /^(localhost|127\.|\[::1\])/.test(location.hostname);
  $("pilot-qr-text").textContent = local
    ? "This dashboard is open as localhost: a phone needs the robot's network address. Open the dashboard by that address for a code a phone can use."
    : token ? "Opens the pilot page with this dashboard's token: ready to drive." : "No token in this dashboard's address: the code opens the pilot page to watch.";
}

function handle(message) {
  switch (message.type) {
    case wire.MessageType.WELCOME:
      state.retry = 0;
      setConnection("connected", "connected");
      addReadings(Date.now() / 1000, message.readings || {}, false);
      recording.limits(message.limits);
      showStatus(message.status || {});
      logEvent(wire.EventLevel.INFO, `connected to ${message.server}`);
      break;
    case wire.MessageType.READING: addReadings(message.t, message.values || {}, true); break;
    case wire.MessageType.STATUS: showStatus(message); break;
    case wire.MessageType.PONG: video.pong(message, Date.now() / 1000); break;
    case wire.MessageType.EVENT: logEvent(message.level, message.text, message.kind); break;
    case wire.MessageType.OUTPUTS: showOutputs(message.lines || {}); break;
    case wire.MessageType.ERROR: logEvent(wire.EventLevel.ERROR, message.message); break;
  }
}

function showStatus(status) {
  const serial = status.serial || {};
  const device = serial.device || {};
  const stateEl = $("device-state");
  stateEl.textContent = serial.state ? `${serial.state}${serial.port ? " · " + serial.port : ""}` : "—";
  stateEl.className = "value " + (serial.state === "ready" ? "ok" : serial.state === "lost" ? "bad" : "warn");
  $("device-info").textContent = device.name ? `${device.name} ${device.version || ""}` : (serial.detail || "—");
  $("pilot").textContent = status.pilot ? status.pilot.name + (status.pilot.input ? ` (${status.pilot.input})` : "") : "nobody";
  const failsafe = $("failsafe");
  failsafe.textContent = status.estop ? "E-STOP" : status.failsafe ? "active (outputs neutral)" : "off (driving)";
  failsafe.className = "value " + (status.estop ? "bad" : status.failsafe ? "warn" : "ok");
  $("clients").textContent = status.clients ?? "—";
  $("estop-state").hidden = !status.estop;
  const cap = typeof status.speed_cap === "number" ? status.speed_cap : 1;
  $("speed-cap").textContent = cap < 1 ? `${Math.round(cap * 100)} % of travel` : "none";
  $("speed-cap").className = "value " + (cap < 1 ? "warn" : "ok");
  video.camera(status);
  recording.status(status);
}

// Round trips give the robot's clock (for the video's frame age): a few quick ones, then every 2 s.
function ping(ws) {
  let n = 0;
  const send = () => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: wire.MessageType.PING, id: n, t: Date.now() / 1000 }));
    n += 1;
    setTimeout(send, n < 5 ? 200 : 2000);
  };
  send();
}

function showOutputs(lines) {
  const list = $("outputs");
  list.replaceChildren(...Object.values(lines).map((line) => {
    const li = document.createElement("li");
    li.textContent = line;
    return li;
  }));
}

// An event's level styles it (a level this page does not know is shown as news);
// its kind (absent from older servers) is kept on the line for styling and tests.
function logEvent(level, text, kind) {
  const list = $("events");
  const li = document.createElement("li");
  li.className = Object.values(wire.EventLevel).includes(level) ? level : wire.EventLevel.INFO;
  li.dataset.kind = Object.values(wire.EventKind).includes(kind) ? kind : wire.EventKind.OTHER;
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  list.prepend(li);
  while (list.children.length > 100) list.lastChild.remove();
}

function addReadings(t, values, sample) {
  for (const [name, value] of Object.entries(values)) {
    if (typeof value !== "number") continue;
    state.latest[name] = value;
    if (!state.rows[name]) addRow(name);
    if (sample) {
      const s = state.series[name] || (state.series[name] = { t: [], v: [] });
      s.t.push(t);
      s.v.push(value);
      const cutoff = t - PLOT_SECONDS;
      let drop = 0;
      while (drop < s.t.length && s.t[drop] < cutoff) drop++;
      if (drop) { s.t.splice(0, drop); s.v.splice(0, drop); }
    }
  }
  state.dirty = true;
}

function addRow(name) {
  const tbody = $("readings").tBodies[0];
  const row = tbody.insertRow();
  const box = document.createElement("input");
  box.type = "checkbox";
  box.checked = state.plotted.has(name);
  box.setAttribute("aria-label", `plot ${name}`);
  box.addEventListener("change", () => {
    box.checked ? state.plotted.add(name) : state.plotted.delete(name);
    localStorage.setItem("teleop.plot", JSON.stringify([...state.plotted]));
    state.dirty = true;
  });
  row.insertCell().append(box);
  row.insertCell().textContent = name;
  const value = row.insertCell();
  value.className = "num";
  state.rows[name] = value;
  const rows = [...tbody.rows].sort((a, b) => a.cells[1].textContent.localeCompare(b.cells[1].textContent, undefined, { numeric: true }));
  tbody.append(...rows);
}

function plotData(keys) {
  // one shared time axis: the union of sample times, seconds before now
  const now = Date.now() / 1000;
  const base = state.series[keys[0]] ? state.series[keys[0]].t : [];
  const xs = base.map((t) => t - now);
  const columns = keys.map((k) => {
    const s = state.series[k] || { t: [], v: [] };
    // readings arrive together, so series line up by index from the end
    const offset = s.v.length - base.length;
    return base.map((_, i) => (i + offset >= 0 ? s.v[i + offset] : null));
  });
  return [xs, ...columns];
}

function render() {
  if (state.dirty) {
    state.dirty = false;
    for (const [name, cell] of Object.entries(state.rows)) {
      const v = state.latest[name];
      cell.textContent = Number.isInteger(v) ? String(v) : v.toFixed(3);
    }
    const keys = Object.keys(state.series).filter((k) => state.plotted.has(k)).sort();
    const el = $("plot");
    if (keys.join() !== state.plotKeys) {
      state.plotKeys = keys.join();
      if (state.plot) { state.plot.destroy(); state.plot = null; }
      if (keys.length) {
        state.plot = new uPlot({
          width: el.clientWidth || 320,
          height: 240,
          scales: { x: { time: false, range: [-PLOT_SECONDS, 0] } },
          legend: { live: false },
          axes: [{ label: "seconds" }, {}],
          series: [{ label: "seconds", show: false }, ...keys.map((k, i) => ({ label: k, stroke: COLORS[i % COLORS.length], width: 2 }))],
        }, plotData(keys), el);
      }
    } else if (state.plot) {
      state.plot.setData(plotData(keys));
    }
  }
  requestAnimationFrame(render);
}

recording.onSend((message) => {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
});
$("estop").addEventListener("click", () => {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify({ type: wire.MessageType.ESTOP, engaged: true }));
    logEvent(wire.EventLevel.WARNING, "emergency stop sent", wire.EventKind.ESTOP);
  }
});
$("cap-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const percent = Number($("cap-input").value);
  if (state.ws && state.ws.readyState === WebSocket.OPEN && percent > 0 && percent <= 100) {
    // the server checks the token this page was opened with (#token=...) and never goes above its configured cap
    state.ws.send(JSON.stringify({ type: wire.MessageType.SPEED_CAP, max_speed: percent / 100 }));
    logEvent(wire.EventLevel.INFO, `speed limit ${percent} % asked`, wire.EventKind.LIMIT);
  }
});
window.addEventListener("resize", () => {
  if (state.plot) state.plot.setSize({ width: $("plot").clientWidth, height: 240 });
});

connect();
requestAnimationFrame(render);
