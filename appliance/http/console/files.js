// The Files tab: a project's workspace, folder by folder, through the files API (/agent/files/<project>).
// A file opens as text (its first 256 KiB); a file, or a folder as a zip, downloads through a link
// that carries a files token (a link cannot send the API key); files and folders dropped on the tab
// are uploaded into the folder shown, one PUT per file; removal asks first.

import { call, query, request } from "./api.js";
import { ago, clear, h } from "./dom.js";

const VIEW_BYTES = 262144;  // what the viewer reads of a file
const TOKEN_MARGIN_MS = 60_000;  // a link's token is renewed when it has less than this left

export function size(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function joined(folder, name) {
  return folder ? `${folder}/${name}` : name;
}

// The file's first bytes as text, or null when they are not UTF-8 (or hold a NUL): a binary file.
// `cut`: the file goes on, so a character split at the end is not an error.
export function textOf(bytes, cut) {
  if (bytes.includes(0)) return null;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes, { stream: cut });
  } catch {
    return null;
  }
}

async function firstBytes(response, limit) {
  const reader = response.body.getReader();
  const chunks = [];
  let length = 0;
  while (length < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.length;
  }
  reader.cancel().catch(() => {});
  const bytes = new Uint8Array(Math.min(length, limit));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk.subarray(0, bytes.length - offset), offset);
    offset += chunk.length;
    if (offset >= bytes.length) break;
  }
  return bytes;
}

// What a drop holds: the entries must be taken before the drop's handler returns (the browser empties
// its DataTransfer then). A folder comes as an entry (webkitGetAsEntry); a file built by a page has
// none, only the file itself.
function dropped(transfer) {
  const entries = [];
  const files = [];
  if (transfer.items) {
    for (const item of transfer.items) {
      if (item.kind !== "file") continue;
      const entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
      if (entry) entries.push(entry);
      else if (item.getAsFile()) files.push(item.getAsFile());
    }
  } else {
    files.push(...transfer.files);
  }
  return { entries, files };
}

// Every file beneath an entry, with its path from the drop: a folder's reader gives a batch at a time
// until it gives none.
async function* walk(entry, prefix = "") {
  const path = prefix + entry.name;
  if (entry.isFile) {
    yield { path, file: await new Promise((resolve, reject) => entry.file(resolve, reject)) };
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) break;
      for (const child of batch) yield* walk(child, `${path}/`);
    }
  }
}

async function* uploads({ entries, files }) {
  for (const file of files) yield { path: file.name, file };
  for (const entry of entries) yield* walk(entry);
}

export function filesPanel(project) {
  const base = `/agent/files/${encodeURIComponent(project)}`;
  const state = { folder: "", token: null, entries: [] };
  const crumbs = h("nav", { class: "crumbs", id: "crumbs", "aria-label": "folder" });
  const usage = h("span", { class: "muted", id: "files-usage" });
  const problem = h("p", { class: "error", id: "files-problem" });
  const status = h("p", { class: "muted", id: "files-status" });
  const rows = h("tbody");
  const more = h("button", { type: "button", class: "quiet", id: "files-more", hidden: true, onclick: () => list(true) }, "More…");
  const viewer = h("section", { class: "card viewer", id: "viewer", hidden: true });
  const folderLink = h("a", { id: "download-folder", download: "" }, "Download folder (.zip)");
  const picker = h("input", { type: "file", multiple: true, hidden: true, onchange: () => {
    upload({ entries: [], files: [...picker.files] });
    picker.value = "";
  } });
  const table = h("table", { class: "files", id: "files" },
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", { class: "size" }, "Size"), h("th", {}, "Modified"), h("th", {}))),
    rows);
  const node = h("section", { class: "files-tab" },
    h("div", { class: "row files-bar" }, crumbs, h("span", { class: "grow" }), folderLink,
      h("button", { type: "button", class: "quiet", id: "upload", onclick: () => picker.click() }, "Upload files…"),
      h("button", { type: "button", class: "quiet", id: "files-refresh", onclick: () => list() }, "Refresh"), picker),
    problem, status, viewer,
    h("div", { class: "card drop", id: "drop" },
      h("div", { class: "scroll" }, table), more,
      h("p", { class: "muted hint" }, "Drop files or folders here to upload them into this folder. ", usage)));

  const raw = (path, extra = {}) => `${base}/raw?${query({ path, ...extra })}`;

  async function token() {
    if (!state.token || state.token.expires_at * 1000 - Date.now() < TOKEN_MARGIN_MS) {
      state.token = await call("POST", "/proxy/token", { project_id: project, access: "files" });
    }
    return state.token.token;
  }

  // A download link: the URL with the files token, the token renewed when the click comes late.
  function link(label, url, attributes = {}) {
    const a = h("a", { ...attributes, download: "", href: url(state.token.token) }, label);
    a.addEventListener("click", async (event) => {
      if (state.token.expires_at * 1000 - Date.now() >= TOKEN_MARGIN_MS) return;
      event.preventDefault();
      a.href = url(await token());
      a.click();
    });
    return a;
  }
  const fileUrl = (path) => (value) => raw(path, { download: 1, rcoder_token: value });
  const folderUrl = (path) => (value) => `${base}/archive?${query({ path, format: "zip", rcoder_token: value })}`;

  function go(folder) {
    state.folder = folder;
    viewer.hidden = true;
    list();
  }

  function showCrumbs() {
    const parts = state.folder ? state.folder.split("/") : [];
    const trail = [h("button", { type: "button", class: "link", onclick: () => go("") }, "workspace")];
    parts.forEach((part, index) => {
      const here = parts.slice(0, index + 1).join("/");
      trail.push(h("span", { class: "muted" }, " / "),
        index === parts.length - 1 ? h("strong", {}, part) : h("button", { type: "button", class: "link", onclick: () => go(here) }, part));
    });
    clear(crumbs, trail);
  }

  function row(entry) {
    const path = joined(state.folder, entry.name);
    const name = entry.type === "dir"
      ? h("button", { type: "button", class: "link", onclick: () => go(path) }, `${entry.name}/`)
      : entry.type === "other"
        ? h("span", { class: "muted" }, entry.name)
        : h("button", { type: "button", class: "link", onclick: () => view(entry, path) }, entry.name);
    const download = entry.type === "dir"
      ? link("zip", folderUrl(path), { title: `download ${path} as a zip` })
      : entry.type === "other" ? null : link("download", fileUrl(path), { title: `download ${path}` });
    return h("tr", { dataset: { name: entry.name, type: entry.type }, title: `mode ${entry.mode.toString(8).padStart(4, "0")}` },
      h("td", {}, name, entry.target ? h("span", { class: "muted" }, ` → ${entry.target}`) : null),
      h("td", { class: "size" }, entry.type === "dir" ? "" : size(entry.size)),
      h("td", { title: entry.mtime }, ago(entry.mtime)),
      h("td", { class: "file-actions" }, download,
        h("button", { type: "button", class: "quiet danger delete", title: `delete ${path}`, onclick: () => remove(entry, path) }, "Delete")));
  }

  async function list(next = false) {
    problem.textContent = "";
    showCrumbs();
    try {
      await token();
      folderLink.href = folderUrl(state.folder)(state.token.token);
      const after = next && state.entries.length ? state.entries[state.entries.length - 1].name : undefined;
      const data = await call("GET", `${base}?${query({ path: state.folder, after })}`);
      state.entries = next ? [...state.entries, ...data.entries] : data.entries;
      // Folders first, each group in the server's order (by name).
      const shown = [...state.entries.filter((e) => e.type === "dir"), ...state.entries.filter((e) => e.type !== "dir")];
      rows.replaceChildren(...shown.map(row));
      if (!shown.length) rows.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "This folder is empty.")));
      more.hidden = !data.truncated;
      const { used, size: total, free } = data.usage;
      usage.textContent = `${size(used)} used of ${size(total)} (${size(free)} free).`;
    } catch (error) {
      state.entries = [];
      rows.replaceChildren();
      more.hidden = true;
      problem.textContent = error.status === 404 && !state.folder
        ? "This project has no workspace yet: its first prompt makes one."
        : error.message;
    }
  }

  async function view(entry, path) {
    const title = h("strong", {}, path);
    const body = h("p", { class: "muted" }, "Loading…");
    clear(viewer, h("div", { class: "row" }, title, h("span", { class: "muted" }, size(entry.size)), h("span", { class: "grow" }),
      link("Download", fileUrl(path), { id: "view-download" }),
      h("button", { type: "button", class: "quiet", onclick: () => { viewer.hidden = true; } }, "Close")), body);
    viewer.hidden = false;
    viewer.scrollIntoView({ block: "nearest" });
    let bytes = new Uint8Array(0);
    let total = entry.size;
    try {
      const response = await request("GET", raw(path), { extra: { range: `bytes=0-${VIEW_BYTES - 1}` } });
      const range = /\/(\d+)$/.exec(response.headers.get("content-range") || "");
      if (range) total = Number(range[1]);
      bytes = await firstBytes(response, VIEW_BYTES);
    } catch (error) {
      if (error.status !== 416) {  // 416: an empty file has no first byte
        body.className = "error";
        body.textContent = error.message;
        return;
      }
    }
    const cut = total > bytes.length;
    const text = textOf(bytes, cut);
    if (text === null) {
      body.textContent = `binary file (${size(total)}): download it to open it.`;
      body.id = "file-binary";
      return;
    }
    const shown = h("pre", { id: "file-view" }, text);
    body.replaceWith(cut ? h("div", {}, h("p", { class: "muted" }, `The first ${size(bytes.length)} of ${size(total)}:`), shown) : shown);
  }

  async function remove(entry, path) {
    const folder = entry.type === "dir";
    if (!confirm(folder ? `Delete the folder ${path} and everything in it?` : `Delete ${path}?`)) return;
    problem.textContent = "";
    try {
      await request("DELETE", raw(path, { recursive: folder ? "true" : undefined }));
      status.textContent = `Deleted ${path}.`;
    } catch (error) {
      problem.textContent = error.message;
    }
    list();
  }

  async function upload(what) {
    problem.textContent = "";
    let count = 0;
    const failed = [];
    try {
      for await (const { path, file } of uploads(what)) {
        const target = joined(state.folder, path);
        status.textContent = `Uploading ${target} (${size(file.size)})…`;
        try {
          await request("PUT", raw(target), { body: file, extra: { "content-type": "application/octet-stream" } });
          count += 1;
        } catch (error) {
          failed.push(`${target}: ${error.message}`);
          if (error.status === 401) return;
        }
      }
    } catch (error) {  // a dropped folder that could not be read
      failed.push(error.message);
    }
    status.textContent = `Uploaded ${count} file${count === 1 ? "" : "s"}.`;
    problem.textContent = failed.join("\n");
    list();
  }

  const drop = node.querySelector("#drop");
  for (const type of ["dragenter", "dragover"]) {
    node.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("dropping");
    });
  }
  node.addEventListener("dragleave", (event) => {
    if (!node.contains(event.relatedTarget)) drop.classList.remove("dropping");
  });
  node.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("dropping");
    if (event.dataTransfer.types.includes("Files")) upload(dropped(event.dataTransfer));  // not a text's drop
  });

  // Shown again, the folder is read again: the agent may have changed it meanwhile.
  return { node, shown: () => list() };
}
