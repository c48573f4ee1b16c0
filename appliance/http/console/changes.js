// The Changes tab: what the agent changed in a project cloned from a repository (git status, and the
// diff against the commit it was cloned at), shown only when the project has a repository.

import { ApiError, call, request } from "./api.js";
import { clear, h } from "./dom.js";

// A diff's lines, coloured by what they are (the text always goes in as text).
function diffLines(text) {
  return text.split("\n").map((line) => {
    let kind = "";
    if (line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ")) kind = "head";
    else if (line.startsWith("@@")) kind = "hunk";
    else if (line.startsWith("+")) kind = "add";
    else if (line.startsWith("-")) kind = "del";
    return h("span", { class: kind ? `diff-${kind}` : undefined }, `${line}\n`);
  });
}

export function changesPanel(project, onRepository) {
  const base = `/agent/git/${encodeURIComponent(project)}`;
  const summary = h("p", { id: "changes-summary" });
  const files = h("ul", { class: "changed", id: "changes-files" });
  const diff = h("pre", { class: "diff", id: "changes-diff" });
  const problem = h("p", { class: "error", id: "changes-problem" });
  const node = h("section", { class: "changes-tab" },
    h("div", { class: "row" }, summary, h("span", { class: "grow" }),
      h("button", { type: "button", class: "quiet", id: "changes-refresh", onclick: () => load() }, "Refresh")),
    problem, files, diff);

  async function load() {
    problem.textContent = "";
    let status;
    try {
      status = await call("GET", `${base}/status`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        onRepository(false);  // not a repository (or no workspace yet): no Changes tab
        return;
      }
      problem.textContent = error.message;
      return;
    }
    onRepository(true);
    const where = status.branch || `detached at ${(status.head || "?").slice(0, 7)}`;
    summary.textContent = `${where}: ${status.commits_since_base} commit(s) since the clone, ${status.files.length} changed file(s)`;
    clear(files, status.files.map((file) => h("li", {}, h("span", { class: `status ${file.status.replace(" ", "-")}` }, file.status), " ", file.path)));
    const response = await request("GET", `${base}/diff`);
    const text = await response.text();
    clear(diff, diffLines(text || "(no changes)"));
    if (response.headers.get("x-rcoder-truncated") === "true") diff.append(h("span", { class: "muted" }, "… cut at 5 MiB"));
  }

  return { node, shown: load, load };
}
