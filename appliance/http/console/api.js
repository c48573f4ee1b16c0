// The appliance's API from the browser: same origin, the API key in the x-api-key header. The key
// is kept in this tab's sessionStorage only (it goes when the tab closes).

const KEY = "rcoder.apiKey";
const USER = "rcoder.user";
const PROJECTS = "rcoder.projects";

export const account = {
  get signedIn() { return sessionStorage.getItem(KEY) !== null; },
  get key() { return sessionStorage.getItem(KEY) || ""; },
  get user() { return sessionStorage.getItem(USER) || "me"; },
  signIn(key, user) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(USER, user);
  },
  signOut() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(USER);
  },
};

// Projects opened here, so that they are listed even while they have no container.
export const remembered = {
  list() {
    try { return JSON.parse(localStorage.getItem(PROJECTS) || "[]"); } catch { return []; }
  },
  add(project) {
    const projects = [project, ...this.list().filter((p) => p !== project)].slice(0, 50);
    localStorage.setItem(PROJECTS, JSON.stringify(projects));
  },
  forget(project) {
    localStorage.setItem(PROJECTS, JSON.stringify(this.list().filter((p) => p !== project)));
  },
};

// The template a new project was opened with, until its first chat names it (sessionStorage: this tab).
export const chosenTemplate = {
  get(project) { return sessionStorage.getItem(`rcoder.template.${project}`) || ""; },
  set(project, template) {
    if (template) sessionStorage.setItem(`rcoder.template.${project}`, template);
    else sessionStorage.removeItem(`rcoder.template.${project}`);
  },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function headers(extra = {}) {
  return account.key ? { "x-api-key": account.key, ...extra } : extra;
}

export async function errorOf(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not the envelope: a proxy's own page */ }
  const message = body && body.message ? body.message : `${response.status} ${response.statusText}`;
  return new ApiError(response.status, body ? body.code : "", message);
}

// One request: its response when it is ok, else an ApiError (401 signs out, so the sign-in form comes
// back). `extra`: more headers (a Range, a body's type).
export async function request(method, path, { body, extra } = {}) {
  const response = await fetch(path, { method, headers: headers(extra), body });
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401) {
      account.signOut();
      window.dispatchEvent(new CustomEvent("rcoder:signed-out", { detail: error.message }));
    }
    throw error;
  }
  return response;
}

// One call: the envelope's data, or an ApiError.
export async function call(method, path, body) {
  const response = await request(method, path,
    body ? { body: JSON.stringify(body), extra: { "content-type": "application/json" } } : {});
  return (await response.json()).data;
}

// A query string from `params`, leaving out those that are undefined or empty.
export function query(params) {
  return new URLSearchParams(Object.entries(params).filter(([, value]) => value !== undefined && value !== "")).toString();
}
