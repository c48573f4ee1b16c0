// The Terminal tab: a shell in the project's container, in its workspace, drawn by xterm.js. The shell
// is a WebSocket the proxy opens with a terminal token (a browser's WebSocket cannot send the API key):
// binary frames carry the terminal's bytes both ways, a text frame tells the shell the terminal's size,
// which follows the tab's through a ResizeObserver. The server says why it closed (ending below).
//
// xterm.js comes from npm into console/vendor/ in the gateway image (images/gateway/console); it is
// loaded when the tab first opens, so that a source checkout, which has no vendor/, still has a console.

import { call } from "./api.js";
import { h } from "./dom.js";

export const MISSING = "xterm.js is bundled by scripts/build-images: this console has no vendor/ folder.";
const THEME = { background: "#0f1420", foreground: "#e6e9ef", cursor: "#e6e9ef" };

async function loadXterm() {
  const [{ Terminal }, { FitAddon }] = await Promise.all([
    import("./vendor/xterm.mjs"),
    import("./vendor/addon-fit.mjs"),
  ]);
  if (!document.querySelector("link[data-xterm]")) {
    document.head.append(h("link", { rel: "stylesheet", href: "./vendor/xterm.css", dataset: { xterm: "" } }));
  }
  return { Terminal, FitAddon };
}

// Why a connection ended, from its close event: the server's reason is {"exit": N} when the shell
// exited, {"signal": N} when a signal ended it, {"idle": S} after S seconds without a byte either way.
export function ending(event) {
  let reason = {};
  try {
    reason = JSON.parse(event.reason) || {};
  } catch { /* not the server's JSON: a proxy's, or none */ }
  if (event.code === 1000 && Number.isInteger(reason.exit)) return `The shell exited (status ${reason.exit}).`;
  if (event.code === 1000 && Number.isInteger(reason.signal)) return `The shell was ended by signal ${reason.signal}.`;
  if (event.code === 1000 && Number.isFinite(reason.idle)) return `The terminal was closed after ${reason.idle} s without activity.`;
  const why = event.code === 1006 ? ": the terminal could not be reached" : event.reason ? `: ${event.reason}` : "";
  return `The connection closed (${event.code}${why}).`;
}

export function terminalPanel(project) {
  // xterm fits itself to its parent, the host: the screen around it gives the margin.
  const host = h("div", { class: "host", id: "terminal" });
  const screen = h("div", { class: "screen" }, host);
  const status = h("span", { class: "muted", id: "terminal-status" });
  const again = h("button", { type: "button", class: "quiet", id: "terminal-again", hidden: true, onclick: () => restart() }, "New shell");
  const node = h("section", { class: "terminal-tab" }, h("div", { class: "row terminal-bar" }, status, h("span", { class: "grow" }), again), screen);
  const encoder = new TextEncoder();
  let term = null;
  let fit = null;
  let socket = null;
  let observer = null;
  let starting = null;
  let closed = false;

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(message);
  }

  function resize() {
    send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
  }

  async function connect() {
    again.hidden = true;
    status.textContent = "Connecting…";
    let url;
    try {
      const token = await call("POST", "/proxy/token", { project_id: project, access: "terminal" });
      url = new URL(token.terminal_url, location.href);
    } catch (error) {
      status.textContent = error.message;
      again.hidden = false;
      return;
    }
    if (closed) return;
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    socket = ws;
    ws.addEventListener("open", () => {
      status.textContent = "A shell in the project's container, in its workspace.";
      resize();
      term.focus();
    });
    ws.addEventListener("message", (event) => {
      term.write(typeof event.data === "string" ? event.data : new Uint8Array(event.data));
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws || closed) return;
      socket = null;
      status.textContent = ending(event);
      again.hidden = false;
    });
  }

  function restart() {
    if (socket) socket.close(1000);
    socket = null;
    term.reset();
    connect();
  }

  async function start() {
    let xterm;
    try {
      xterm = await loadXterm();
    } catch {
      status.textContent = MISSING;
      status.className = "error";
      screen.hidden = true;
      return;
    }
    if (closed) return;
    term = new xterm.Terminal({
      cursorBlink: true,
      fontFamily: 'ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace',
      fontSize: 14,
      lineHeight: 1.2,  // room for an underscore: at 1.0 the DOM renderer clips it
      scrollback: 5000,
      theme: THEME,
    });
    fit = new xterm.FitAddon();
    term.loadAddon(fit);
    term.open(host);
    host.terminal = term;  // for the tests (term.buffer.active) and the browser's console
    term.onData((data) => send(encoder.encode(data)));
    term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0))));
    term.onResize(resize);
    observer = new ResizeObserver(() => {
      if (host.clientWidth && host.clientHeight) fit.fit();
    });
    observer.observe(host);
    fit.fit();
    await connect();
  }

  return {
    node,
    shown() {
      if (!starting) starting = start();
      else if (term) {
        fit.fit();
        term.focus();
      }
    },
    close() {
      closed = true;
      if (socket) socket.close(1000);
      observer?.disconnect();
      term?.dispose();
    },
  };
}
