// One turn on the page, drawn from its events as the terminal client draws it: the plan as a
// checklist, tool calls with their status, the latest thought dimmed, the reply as Markdown, a
// permission request with a button per option, and the end as a status line.

import { clear, h } from "./dom.js";
import { markdown } from "./markdown.js";

const PLAN_MARKS = { completed: "✔", in_progress: "▸", pending: "☐" };
const TOOL_MARKS = { pending: "○", in_progress: "◐", completed: "✔", failed: "✖" };

export class TurnView {
  // `answer(requestId, optionId)` sends a permission answer.
  constructor({ prompt, answer }) {
    this.answer = answer;
    this.reply = "";
    this.tools = new Map();
    this.requests = new Map();
    this.plan = h("ul", { class: "plan" });
    this.toolList = h("ul", { class: "tools" });
    this.thought = h("p", { class: "thought" });
    this.replyNode = h("div", { class: "reply markdown" });
    this.asks = h("div", { class: "asks" });
    this.status = h("p", { class: "status waiting" }, h("span", { class: "spinner" }), "waiting for the agent");
    this.node = h(
      "article",
      { class: "turn" },
      prompt ? h("p", { class: "prompt" }, prompt) : null,
      this.plan, this.toolList, this.thought, this.replyNode, this.asks, this.status,
    );
  }

  apply({ id, data: event }) {
    const data = event.data || {};
    this.node.dataset.lastEventId = id ?? "";
    switch (event.subType) {
      case "plan":
        clear(this.plan, (data.entries || []).map((entry) =>
          h("li", { class: entry.status }, h("span", { class: "mark" }, PLAN_MARKS[entry.status] || "?"), entry.content)));
        break;
      case "agent_thought_chunk":
        this.thought.textContent = (this.thought.textContent + (data.content?.text || "")).slice(-240);
        break;
      case "agent_message_chunk":
        this.reply += data.content?.text || "";
        this.thought.textContent = "";
        this.drawReply();
        break;
      case "tool_call":
      case "tool_call_update":
        this.tool(data);
        break;
      case "permission_request":
        this.ask(data);
        break;
      case "permission_resolved":
        this.resolved(data);
        break;
      default:
        if (event.messageType === "sessionPromptEnd" || event.messageType === "error") this.end(event);
    }
  }

  drawReply() {
    // Redrawn at most once a frame, however fast the chunks come.
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = null;
      clear(this.replyNode, markdown(this.reply));
    });
  }

  tool(data) {
    const known = this.tools.get(data.toolCallId) || { title: "tool call", kind: "", status: "pending" };
    for (const name of ["title", "kind", "status"]) if (data[name]) known[name] = data[name];
    this.tools.set(data.toolCallId, known);
    clear(this.toolList, [...this.tools.values()].map((tool) =>
      h("li", { class: tool.status },
        h("span", { class: "mark" }, TOOL_MARKS[tool.status] || "?"),
        `${tool.title}${tool.kind ? ` (${tool.kind})` : ""} `,
        h("span", { class: "badge" }, tool.status))));
  }

  ask(data) {
    const title = data.toolCall?.title || data.toolCall?.toolCallId || "a tool call";
    const path = data.toolCall?.locations?.[0]?.path;
    const buttons = (data.options || []).map((option) =>
      h("button", {
        class: option.kind?.startsWith("allow") ? "allow" : "reject",
        dataset: { optionId: option.optionId },
        onclick: (click) => this.choose(data.requestId, option, click.currentTarget),
      }, option.name));
    const card = h("div", { class: "ask", dataset: { requestId: data.requestId } },
      h("p", {}, h("strong", {}, "The agent asks to: "), title, path ? h("code", {}, ` ${path}`) : null),
      h("div", { class: "options" }, buttons),
      h("p", { class: "outcome muted" }));
    this.requests.set(data.requestId, card);
    this.asks.append(card);
    card.scrollIntoView({ block: "center" });
    this.setWaiting(`waiting for your answer: ${title}`);
  }

  async choose(requestId, option, button) {
    const card = this.requests.get(requestId);
    card.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      await this.answer(requestId, option.optionId);
      card.querySelector(".outcome").textContent = `You chose: ${option.name}`;
    } catch (error) {
      card.querySelector(".outcome").textContent = `Not answered: ${error.message}`;
      card.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
    button.classList.add("chosen");
  }

  resolved(data) {
    const card = this.requests.get(data.requestId);
    if (card) {
      card.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      card.classList.add("settled");
      card.querySelector(".outcome").textContent = `${data.how}: ${data.optionId ?? "cancelled"}`;
    }
    this.setWaiting("waiting for the agent");
  }

  setWaiting(text) {
    if (!this.node.classList.contains("ended")) clear(this.status, h("span", { class: "spinner" }), text);
  }

  end(event) {
    const data = event.data || {};
    const ok = event.subType === "end_turn";
    this.node.classList.add("ended");
    this.thought.textContent = "";
    this.status.className = `status ${ok ? "ok" : event.subType === "cancelled" ? "cancelled" : "failed"}`;
    clear(this.status, `${ok ? "✔" : event.subType === "cancelled" ? "■" : "✖"} ${event.subType}`,
      h("span", { class: "muted" }, `  ${data.error_message || data.message || data.description || ""}`));
  }

  // The turn's stream broke for good (the page says so; the turn may go on).
  lost(error) {
    if (!this.node.classList.contains("ended")) clear(this.status, `✖ ${error.message}`);
  }
}
