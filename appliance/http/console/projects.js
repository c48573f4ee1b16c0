// The projects: those with a container (GET /computer/pod/list) and those opened in this browser,
// each with its agent's status and last activity (GET /agent/status/{project}).

import { call, chosenTemplate, remembered } from "./api.js";
import { ago, clear, h } from "./dom.js";

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

async function statusOf(project) {
  try {
    return await call("GET", `/agent/status/${encodeURIComponent(project)}`);
  } catch (error) {
    if (error.status === 404) return null;  // no chat yet
    throw error;
  }
}

function statusBadge(status) {
  if (!status) return h("span", { class: "badge" }, "new");
  if (!status.is_alive) return h("span", { class: "badge stopped" }, "stopped");
  return h("span", { class: `badge ${status.status === "Active" ? "active" : "idle"}` }, status.status === "Active" ? "working" : "idle");
}

export function projectsPage(main) {
  const rows = h("tbody");
  const desktops = h("p", { class: "muted" });
  const problem = h("p", { class: "error" });
  const name = h("input", { id: "new-project", placeholder: "project id, e.g. my-app", pattern: ID.source, required: true });
  const template = h("select", { id: "new-template", title: "the toolchain a new project runs on" },
    h("option", { value: "" }, "the agent image"));
  const open = h("form", { class: "inline", onsubmit: (event) => {
    event.preventDefault();
    const project = name.value.trim();
    chosenTemplate.set(project, template.value);
    location.hash = `#/p/${encodeURIComponent(project)}`;
  } }, name, template, h("button", { type: "submit", id: "open-project" }, "Open"));
  call("GET", "/templates").then(({ templates }) => {
    for (const t of templates.filter((t) => t.state === "ready")) {
      template.append(h("option", { value: t.name }, t.description ? `${t.name}: ${t.description}` : t.name));
    }
  }).catch(() => {});  // no template to offer
  clear(main,
    h("section", { class: "card" }, h("h1", {}, "Projects"), open, problem,
      h("div", { class: "scroll" }, h("table", { class: "projects" },
        h("thead", {}, h("tr", {}, h("th", {}, "Project"), h("th", {}, "Status"), h("th", {}, "Last activity"))),
        rows)),
      desktops));

  let stopped = false;
  (async () => {
    try {
      const pods = await call("GET", "/computer/pod/list?limit=1000");
      const agents = pods.containers.filter((c) => c.service_type === "rcoder" && c.project_id).map((c) => c.project_id);
      const users = pods.containers.filter((c) => c.service_type === "computer_agent_runner").map((c) => c.user_id);
      desktops.textContent = users.length ? `Desktops running: ${users.join(", ")}` : "No desktop is running.";
      const projects = [...new Set([...agents, ...remembered.list()])];
      const statuses = await Promise.all(projects.map(statusOf));
      if (stopped) return;
      const listed = projects.map((project, i) => ({ project, status: statuses[i] }))
        .sort((a, b) => (b.status?.last_activity || "").localeCompare(a.status?.last_activity || ""));
      clear(rows, listed.map(({ project, status }) =>
        h("tr", { dataset: { project } },
          h("td", {}, h("a", { href: `#/p/${encodeURIComponent(project)}` }, project)),
          h("td", {}, statusBadge(status)),
          h("td", {}, ago(status?.last_activity)))));
      if (!listed.length) clear(rows, h("tr", {}, h("td", { colspan: 3, class: "muted" }, "No project yet: open one above.")));
    } catch (error) {
      problem.textContent = error.message;
    }
  })();
  return () => { stopped = true; };
}
