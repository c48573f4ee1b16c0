// The console's pages, by the URL's hash: #/ lists the projects, #/p/<project> is one project.
// Until an API key is entered (once per tab), the sign-in form shows instead.

import { account, call } from "./api.js";
import { clear, h } from "./dom.js";
import { projectPage } from "./project.js";
import { projectsPage } from "./projects.js";

const main = document.getElementById("main");
let leave = null;  // what the current page stops when another one opens (its streams, sockets)

function signInPage(message) {
  const key = h("input", { type: "password", id: "api-key", autocomplete: "current-password", placeholder: "the appliance's API key" });
  const user = h("input", { id: "user", value: sessionStorage.getItem("rcoder.user") || "me", pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}", required: true });
  const problem = h("p", { class: "error" }, message || "");
  const form = h("form", { class: "card sign-in", onsubmit: async (event) => {
    event.preventDefault();
    account.signIn(key.value.trim(), user.value.trim());
    try {
      await call("GET", "/agents");  // the key works (or none is needed)
      route();
    } catch (error) {
      problem.textContent = error.message;
    }
  } },
  h("h1", {}, "Sign in"),
  h("label", {}, "API key", key),
  h("label", {}, "Your user name (whose desktop you see)", user),
  h("button", { type: "submit", id: "sign-in" }, "Sign in"),
  problem,
  h("p", { class: "muted" }, "The key stays in this tab only. Leave it empty if the appliance needs none."));
  clear(main, form);
  key.focus();
}

function route() {
  if (leave) leave();
  leave = null;
  document.getElementById("who").textContent = account.signedIn ? account.user : "";
  document.getElementById("sign-out").hidden = !account.signedIn;
  if (!account.signedIn) return signInPage();
  const match = /^#\/p\/([^/]+)/.exec(location.hash);
  leave = match ? projectPage(main, decodeURIComponent(match[1])) : projectsPage(main);
}

document.getElementById("sign-out").addEventListener("click", () => {
  account.signOut();
  route();
});
window.addEventListener("hashchange", route);
window.addEventListener("rcoder:signed-out", (event) => {
  if (leave) leave();
  leave = null;
  signInPage(event.detail);
});
route();
