// Your desktop for this project: noVNC through the proxy's /computer/vnc route (with the token
// GET /computer/desktop returns), its sound on and off (Opus in WebM over the audio WebSocket, as
// the desktop's own player page plays it), and a text box typed into the focused window (IME).

import { account, call } from "./api.js";
import { clear, h } from "./dom.js";

function socketUrl(path) {
  return new URL(path, location.href.replace(/^http/, "ws")).href;
}

// Plays the stream at `url`; `state(text)` hears how it goes: connecting, connected, playing, closed.
function playAudio(url, state) {
  const audio = new Audio();
  const source = new MediaSource();
  const socket = new WebSocket(socketUrl(url));
  socket.binaryType = "arraybuffer";
  state("connecting");
  socket.onopen = () => state("connected");
  socket.onclose = () => state("closed");
  audio.src = URL.createObjectURL(source);
  source.addEventListener("sourceopen", () => {
    const buffer = source.addSourceBuffer('audio/webm; codecs="opus"');
    const pending = [];
    buffer.addEventListener("updateend", () => { if (pending.length) buffer.appendBuffer(pending.shift()); });
    socket.onmessage = (message) => {
      state("playing");
      const piece = new Uint8Array(message.data).slice(1);  // 0x01, then a piece of the stream
      if (buffer.updating || pending.length) pending.push(piece); else buffer.appendBuffer(piece);
    };
  });
  audio.play().catch(() => {});
  return () => { socket.close(); audio.pause(); URL.revokeObjectURL(audio.src); };
}

// A new desktop answers before its noVNC does: wait for it (a page loaded too early stays an error).
async function noVncReady(user) {
  for (let attempt = 0; attempt < 90; attempt += 1) {
    try {
      const status = await call("GET", `/computer/pod/vnc-status?user_id=${encodeURIComponent(user)}`);
      if (status.novnc_ready) return true;
    } catch (error) {
      if (error.status === 401) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return false;
}

export function desktopPanel(project) {
  const user = account.user;
  const frame = h("div", { class: "screen" }, h("p", { class: "muted" }, "Opening your desktop…"));
  const status = h("p", { class: "muted", id: "desktop-status" });
  const sound = h("button", { type: "button", id: "audio", "aria-pressed": "false", disabled: true }, "Sound: off");
  const text = h("input", { id: "ime-text", placeholder: "Text to type in the focused window (any language)", maxlength: 1000 });
  const typeButton = h("button", { type: "submit", id: "ime-send", disabled: true }, "Type");
  let opened = null, stopAudio = null, ime = null;

  function imeSocket() {
    if (ime && ime.readyState <= WebSocket.OPEN) return ime;
    ime = new WebSocket(socketUrl(`${opened.proxy_ime_url}?rcoder_token=${encodeURIComponent(opened.token)}`));
    ime.onmessage = (message) => {
      const reply = JSON.parse(message.data);
      status.textContent = reply.status === "ok" ? "Typed." : `Not typed: ${reply.message}`;
    };
    return ime;
  }

  sound.addEventListener("click", () => {
    if (stopAudio) {
      stopAudio();
      stopAudio = null;
    } else {
      const page = new URL(opened.proxy_audio_url, location.href);
      stopAudio = playAudio(`${page.pathname.replace(/\/?$/, "/")}ws${page.search}`, (state) => { sound.dataset.state = state; });
    }
    sound.textContent = `Sound: ${stopAudio ? "on" : "off"}`;
    sound.setAttribute("aria-pressed", String(Boolean(stopAudio)));
  });

  const imeForm = h("form", { class: "inline ime", onsubmit: (event) => {
    event.preventDefault();
    if (!text.value) return;
    const socket = imeSocket();
    const message = JSON.stringify({ type: "text", text: text.value, method: "xdotool" });
    if (socket.readyState === WebSocket.OPEN) socket.send(message);
    else socket.addEventListener("open", () => socket.send(message), { once: true });
    text.value = "";
  } }, text, typeButton);

  async function open() {
    if (opened) return;
    status.textContent = `Starting the desktop of ${user}…`;
    try {
      opened = await call("GET", `/computer/desktop/${encodeURIComponent(user)}/${encodeURIComponent(project)}`);
    } catch (error) {
      clear(frame, h("p", { class: "error" }, error.message));
      status.textContent = "";
      return;
    }
    status.textContent = `Waiting for the desktop of ${user} to show…`;
    if (!(await noVncReady(user))) {
      clear(frame, h("p", { class: "error" }, "The desktop did not show within 90 s; try again."));
      opened = null;
      return;
    }
    clear(frame, h("iframe", { src: opened.proxy_vnc_url, title: `the desktop of ${user}`, allow: "autoplay; clipboard-read; clipboard-write" }));
    status.textContent = `The desktop of ${user}.`;
    sound.disabled = typeButton.disabled = false;
  }

  return {
    node: h("section", { class: "desktop" }, h("div", { class: "row" }, sound, imeForm), status, frame),
    shown: open,
    close() {
      if (stopAudio) stopAudio();
      if (ime) ime.close();
    },
  };
}
