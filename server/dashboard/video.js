// The robot's camera on the dashboard: /video.mjpg read with fetch(), so that every frame's
// X-Capture-Time header can be read (an <img> shows the picture but hides the headers).
// Frame age = now on the robot's clock - capture time; the robot's clock is estimated from
// the WebSocket's ping/pong round trips (offset = server_t - midpoint of the round trip,
// from the fastest recent round trip), so browser and robot clocks need not agree.
"use strict";

// Delays in ms before reopening the stream, attempt 1, 2, 3, ...; the last repeats. The same numbers as
// teleop.common.backoff.DASHBOARD_VIDEO_DELAYS (tests/common/test_backoff.py checks that they match).
const VIDEO_RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 5000];

const video = (() => {
  const canvas = document.getElementById("video");
  const message = document.getElementById("video-message");
  const line = document.getElementById("video-line");
  const context = canvas.getContext("2d");
  const encoder = new TextEncoder();
  const decoder = new TextDecoder("latin1");
  const v = {
    camera: undefined,   // status.camera: undefined until the first status, null when there is none
    token: null,
    running: false,
    abort: null,
    retry: 0,
    frames: 0,
    arrivals: [],        // arrival times (ms) of the last second's frames
    age: null,           // smoothed frame age in ms
    pending: null,       // the newest frame not yet drawn: newer frames replace it
    drawing: false,
    offset: null,        // robot clock - browser clock, seconds
    bestRtt: Infinity,
    samples: [],
  };

  function say(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function camera(status) {
    const cam = status.camera ?? null;
    v.camera = cam;
    if (!cam) {
      say("This robot has no camera. Start teleop-server with --camera (sim, /dev/video0, rpicam or cmd:COMMAND).");
      line.textContent = "no camera";
      stop();
      return;
    }
    if (cam.state === "live") {
      if (message.dataset.kind !== "refused") say(v.frames ? "" : "waiting for the first frame…");
      if (message.dataset.kind === "camera") message.dataset.kind = "";
    } else {
      say(cam.state === "lost" ? `Camera lost: ${cam.detail}` : `Camera starting: ${cam.detail}`);
      message.dataset.kind = "camera";
    }
    if (!v.running) start();
  }

  // -- clock offset from the WebSocket's ping/pong --------------------------------------------
  function pong(message, receivedAt) {
    const sent = message.t;
    const rtt = receivedAt - sent;
    if (!(rtt >= 0) || !message.server_t) return;
    v.samples.push({ rtt, offset: message.server_t - (sent + receivedAt) / 2 });
    if (v.samples.length > 10) v.samples.shift();
    const best = v.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    v.offset = best.offset;
  }

  // -- the stream --------------------------------------------------------------------------------
  function stop() {
    v.running = false;
    if (v.abort) v.abort.abort();
    v.abort = null;
  }

  async function start() {
    v.running = true;
    const abort = new AbortController();
    v.abort = abort;
    const headers = v.token ? { Authorization: `Bearer ${v.token}` } : {};
    try {
      const response = await fetch("/video.mjpg", { headers, signal: abort.signal, cache: "no-store" });
      if (!response.ok) {
        const text = (await response.text()).trim();
        say(`Video refused (${response.status}): ${text}`);
        message.dataset.kind = "refused";
        v.retry = Math.max(v.retry, VIDEO_RETRY_DELAYS_MS.length - 1);  // a refusal will not change soon: retry slowly
        throw new Error("refused");
      }
      if (message.dataset.kind === "refused") message.dataset.kind = "";
      const type = response.headers.get("Content-Type") || "";
      const match = /boundary="?([^";]+)"?/i.exec(type);
      await read(response.body.getReader(), (match ? match[1] : "teleopframe").replace(/^--/, ""));
    } catch (error) {
      if (abort.signal.aborted) return;
    }
    if (abort.signal.aborted || !v.running) return;
    v.running = false;
    const delay = VIDEO_RETRY_DELAYS_MS[Math.min(v.retry++, VIDEO_RETRY_DELAYS_MS.length - 1)];
    setTimeout(() => { if (!v.running && v.camera) start(); }, delay);
  }

  function indexOf(buffer, length, needle, from) {
    outer: for (let i = from; i <= length - needle.length; i++) {
      for (let j = 0; j < needle.length; j++) if (buffer[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  }

  async function read(reader, boundary) {
    const delimiter = encoder.encode(`--${boundary}`);
    const blank = encoder.encode("\r\n\r\n");
    let buffer = new Uint8Array(1 << 16);
    let length = 0;
    let want = null;   // {start, size, headers} once a part's headers are read
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      if (length + value.length > buffer.length) {
        const bigger = new Uint8Array(Math.max(buffer.length * 2, length + value.length));
        bigger.set(buffer.subarray(0, length));
        buffer = bigger;
      }
      buffer.set(value, length);
      length += value.length;
      let at = 0;
      for (;;) {
        if (!want) {
          const start = indexOf(buffer, length, delimiter, at);
          if (start < 0) break;
          const end = indexOf(buffer, length, blank, start);
          if (end < 0) { at = start; break; }
          const headers = {};
          for (const row of decoder.decode(buffer.subarray(start, end)).split("\r\n").slice(1)) {
            const colon = row.indexOf(":");
            if (colon > 0) headers[row.slice(0, colon).trim().toLowerCase()] = row.slice(colon + 1).trim();
          }
          const size = parseInt(headers["content-length"], 10);
          if (!(size > 0 && size < 8e6)) { at = end + 4; continue; }  // not a part this page can use: skip it
          want = { start: end + 4, size, headers };
          at = start;
        }
        if (length - want.start < want.size) break;
        frame(buffer.slice(want.start, want.start + want.size), want.headers);
        at = want.start + want.size;
        want = null;
      }
      // keep only what is not used yet
      if (at > 0) {
        buffer.copyWithin(0, at, length);
        length -= at;
        if (want) want.start -= at;
      }
      v.retry = 0;
    }
  }

  function frame(jpeg, headers) {
    const now = Date.now();
    const captured = parseFloat(headers["x-capture-time"]);
    if (v.offset !== null && captured > 0) {
      const age = (now / 1000 + v.offset - captured) * 1000;
      v.age = v.age === null ? age : v.age * 0.8 + age * 0.2;
    }
    v.arrivals.push(now);
    while (v.arrivals.length && v.arrivals[0] < now - 1000) v.arrivals.shift();
    v.pending = jpeg;   // newest frame wins: one still waiting is replaced
    if (!v.drawing) draw();
  }

  async function draw() {
    v.drawing = true;
    while (v.pending) {
      const jpeg = v.pending;
      v.pending = null;
      try {
        const bitmap = await createImageBitmap(new Blob([jpeg], { type: "image/jpeg" }));
        if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
          canvas.width = bitmap.width;
          canvas.height = bitmap.height;
        }
        context.drawImage(bitmap, 0, 0);
        bitmap.close();
        v.frames += 1;
        canvas.dataset.frames = String(v.frames);
        if (!message.dataset.kind) say("");
      } catch (error) {
        // a damaged frame: skip it, the next one replaces it
      }
    }
    v.drawing = false;
  }

  setInterval(() => {
    if (!v.camera) return;
    const fps = v.arrivals.filter((t) => t >= Date.now() - 1000).length;
    const age = v.age === null ? "age —" : `age ${Math.max(0, Math.round(v.age))} ms`;
    line.textContent = `${age} · ${fps} fps · ${canvas.width}×${canvas.height}`;
  }, 500);

  // age(): the smoothed age of the frame on screen in ms (null until the clocks are matched)
  return { camera, pong, setToken: (token) => { v.token = token; }, age: () => (v.frames ? v.age : null) };
})();
