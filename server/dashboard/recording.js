// The recording card: "Save the last 30 s" (a save_snapshot message; the server answers with an
// event naming the file), and while the server replays a recording (status.replay), play/pause,
// seek and speed (replay messages).
"use strict";

const recording = (() => {
  const $ = (id) => document.getElementById(id);
  let send = () => {};
  let replay = null;
  let seeking = false;
  // the last seconds the server keeps to save (0: snapshots are off there; null: an older server that does not say)
  let kept = null;
  // what the button asks for at most
  const WANTED_S = 30;

  function connected(on) {
    $("snapshot").disabled = !on;
    $("replay-play").disabled = !on;
  }

  /** The button, or why there is none: a card left empty says nothing. */
  function showSnapshot() {
    $("snapshot").hidden = !!replay || kept === 0;
    $("snapshot-off").hidden = !!replay || kept !== 0;
  }

  function status(s) {
    replay = s.replay || null;
    $("replay").hidden = !replay;
    showSnapshot();
    document.body.classList.toggle("replaying", !!replay);
    if (!replay) return;
    $("replay-file").textContent = replay.file;
    $("replay-play").textContent = replay.playing ? "Pause" : "Play";
    const seek = $("replay-seek");
    seek.max = String(replay.duration || 0);
    if (!seeking) seek.value = String(replay.position || 0);
    $("replay-position").textContent = `${(replay.position || 0).toFixed(1)} s of ${(replay.duration || 0).toFixed(1)} s`;
    $("replay-speed").value = String(replay.speed);
  }

  /** What the button asks for: 30 s, or all the server keeps if that is less. */
  const wanted = () => (kept ? Math.min(WANTED_S, kept) : WANTED_S);

  /** The welcome's limits: whether this server keeps the last seconds at all, and how many. */
  function limits(l) {
    kept = typeof (l || {}).snapshot_seconds === "number" ? l.snapshot_seconds : null;
    $("snapshot").textContent = `Save the last ${Math.round(wanted())} s`;
    showSnapshot();
  }

  $("snapshot").addEventListener("click", () => send({ type: wire.MessageType.SAVE_SNAPSHOT, seconds: wanted() }));
  $("replay-play").addEventListener("click", () => send({ type: wire.MessageType.REPLAY, action: replay && replay.playing ? "pause" : "play" }));
  $("replay-seek").addEventListener("input", () => { seeking = true; });
  $("replay-seek").addEventListener("change", (e) => {
    seeking = false;
    send({ type: wire.MessageType.REPLAY, action: "seek", position: Number(e.target.value) });
  });
  $("replay-speed").addEventListener("change", (e) => send({ type: wire.MessageType.REPLAY, action: "speed", speed: Number(e.target.value) }));

  return { connected, status, limits, onSend: (fn) => { send = fn; } };
})();
