// One project: its conversation (prompts, each turn live, permission answers, cancel and stop), its
// files, a terminal in its container, its previews, and your desktop.

import { call, chosenTemplate, remembered } from "./api.js";
import { changesPanel } from "./changes.js";
import { desktopPanel } from "./desktop.js";
import { ago, clear, h } from "./dom.js";
import { filesPanel } from "./files.js";
import { follow } from "./stream.js";
import { terminalPanel } from "./terminal.js";
import { TurnView } from "./turn.js";

function tabs(panels) {
  const buttons = Object.keys(panels).map((name) =>
    h("button", { role: "tab", class: "tab", dataset: { tab: name.toLowerCase() }, onclick: () => show(name) }, name));
  function show(name) {
    for (const button of buttons) button.setAttribute("aria-selected", String(button.textContent === name));
    for (const [other, panel] of Object.entries(panels)) panel.node.hidden = other !== name;
    panels[name].shown?.();
  }
  return { bar: h("nav", { class: "tabs", role: "tablist" }, buttons), show };
}

function previewPanel(project) {
  const port = h("input", { type: "number", id: "preview-port", min: 1024, max: 49151, value: 5173 });
  const links = h("ul", { class: "links" });
  const problem = h("p", { class: "error" });
  const form = h("form", { class: "inline", onsubmit: async (event) => {
    event.preventDefault();
    problem.textContent = "";
    try {
      const token = await call("POST", "/proxy/token", { project_id: project, port: Number(port.value) });
      links.prepend(h("li", {}, h("a", { href: token.preview_url, target: "_blank", rel: "noopener" }, `port ${port.value}`),
        h("span", { class: "muted" }, ` (valid until ${new Date(token.expires_at * 1000).toLocaleString()})`)));
    } catch (error) {
      problem.textContent = error.message;
    }
  } }, h("label", {}, "Port inside the project's container ", port), h("button", { type: "submit" }, "Get a link"));
  return { node: h("section", { class: "card" }, h("p", { class: "muted" }, "A link opens that port in a new tab (a dev server, say)."), form, problem, links) };
}

export function projectPage(main, project) {
  const controller = new AbortController();
  const state = { session: null, running: null };
  const badge = h("span", { class: "badge" }, "…");
  const activity = h("span", { class: "muted" });
  const toolchain = h("span", { class: "badge", id: "template" });
  const problem = h("p", { class: "error", id: "problem" });
  const turns = h("div", { class: "turns" });
  const prompt = h("textarea", { id: "prompt", rows: 3, placeholder: "What should the agent do?", required: true });
  const agent = h("select", { id: "agent" }, h("option", { value: "" }, "default agent"));
  const policy = h("select", { id: "policy", title: "how the agent's permission requests are answered" },
    h("option", { value: "ask" }, "ask me"), h("option", { value: "allow" }, "allow all"),
    h("option", { value: "deny" }, "deny all"), h("option", { value: "" }, "the agent's policy"));
  const send = h("button", { type: "submit", id: "send" }, "Send");
  const cancel = h("button", { type: "button", id: "cancel", class: "quiet", onclick: () => act("cancel") }, "Cancel turn");
  const stop = h("button", { type: "button", id: "stop", class: "quiet danger", onclick: () => act("stop") }, "Stop agent");

  async function refresh() {
    try {
      const status = await call("GET", `/agent/status/${encodeURIComponent(project)}`);
      state.session = status.session_id;
      badge.className = `badge ${!status.is_alive ? "stopped" : status.status === "Active" ? "active" : "idle"}`;
      badge.textContent = !status.is_alive ? "stopped" : status.status === "Active" ? "working" : "idle";
      activity.textContent = `last activity ${ago(status.last_activity)}`;
      toolchain.textContent = status.template ? `template ${status.template}` : "";
      return status;
    } catch (error) {
      if (error.status !== 404) problem.textContent = error.message;
      badge.className = "badge";
      badge.textContent = "new";
      return null;
    }
  }

  async function show(sessionId, view, lastEventId = null) {
    state.running = sessionId;
    turns.append(view.node);
    view.node.scrollIntoView({ block: "end" });
    try {
      for await (const event of follow(sessionId, { lastEventId, signal: controller.signal })) view.apply(event);
    } catch (error) {
      view.lost(error);
    }
    if (state.running === sessionId) state.running = null;
    if (!controller.signal.aborted) {
      refresh();
      changes.load().catch(() => {});  // a first turn may have cloned a repository
    }
  }

  function newView(text) {
    const answer = (requestId, optionId) => call("POST", "/agent/permission",
      { project_id: project, session_id: state.running || state.session, request_id: requestId, option_id: optionId });
    return new TurnView({ prompt: text, answer });
  }

  async function act(what) {
    problem.textContent = "";
    if (what === "stop" && !confirm(`Stop the agent of ${project}? Its container goes; its files stay.`)) return;
    try {
      const body = { project_id: project, session_id: what === "cancel" ? state.running || undefined : undefined };
      await call("POST", what === "cancel" ? "/agent/session/cancel" : "/agent/stop", body);
      refresh();
    } catch (error) {
      problem.textContent = error.message;
    }
  }

  const form = h("form", { class: "composer", onsubmit: async (event) => {
    event.preventDefault();
    problem.textContent = "";
    const text = prompt.value.trim();
    if (!text) return;
    send.disabled = true;
    const body = { prompt: text, project_id: project };
    if (policy.value) body.permission_policy = policy.value;
    if (agent.value) body.agent_config = { agent_server: { agent_id: agent.value } };
    if (chosenTemplate.get(project)) body.template = chosenTemplate.get(project);
    try {
      const started = await call("POST", "/chat", body);
      chosenTemplate.set(project, "");  // the project keeps it
      remembered.add(project);
      prompt.value = "";
      state.session = started.session_id;
      show(started.session_id, newView(text));
    } catch (error) {
      problem.textContent = error.message;
    } finally {
      send.disabled = false;
    }
  } }, prompt, h("div", { class: "row" }, agent, policy, send));

  const chat = { node: h("section", { class: "chat" }, turns, form) };
  const desktop = desktopPanel(project);
  const terminal = terminalPanel(project);
  const changes = changesPanel(project, (has) => {
    bar.querySelector('[data-tab="changes"]').hidden = !has;
  });
  const panels = { Chat: chat, Files: filesPanel(project), Changes: changes, Terminal: terminal, Desktop: desktop, Preview: previewPanel(project) };
  const { bar, show: showTab } = tabs(panels);
  bar.querySelector('[data-tab="changes"]').hidden = true;
  changes.load().catch(() => {});
  clear(main,
    h("section", { class: "project-head" },
      h("div", {}, h("a", { href: "#/", class: "muted" }, "← projects"), h("h1", {}, project), badge, " ", toolchain, " ", activity),
      h("div", { class: "actions" }, cancel, stop)),
    problem, bar, ...Object.values(panels).map((panel) => panel.node));
  showTab("Chat");
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });

  call("GET", "/agents").then((data) => {
    for (const a of data.agents) agent.append(h("option", { value: a.id }, `${a.id}${a.default ? " (default)" : ""}`));
  }).catch(() => {});
  // The latest turn, as it went (or as it goes on).
  refresh().then((status) => {
    if (status && status.session_id && !controller.signal.aborted) show(status.session_id, newView(null));
  });
  return () => {
    controller.abort();
    desktop.close();
    terminal.close();
  };
}
