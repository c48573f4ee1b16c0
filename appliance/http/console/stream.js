// A session's events over fetch (EventSource cannot send the API key): parsed as the appliance writes
// them, and resumed with Last-Event-ID when the connection drops, so none is lost or shown twice.

import { errorOf, headers } from "./api.js";

const MAX_ATTEMPTS = 8;
const TERMINAL = new Set(["sessionPromptEnd", "error"]);

async function* lines(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const parts = buffer.split(/\r\n|\r|\n/);
      buffer = parts.pop();
      yield* parts;
    }
  } finally {
    reader.releaseLock();
  }
}

// The SSE events in a response: {id, event, data} with data parsed (comments skipped).
async function* events(body) {
  let id = null, event = "message", data = [];
  for await (const line of lines(body)) {
    if (line === "") {
      if (data.length) yield { id, event, data: JSON.parse(data.join("\n")) };
      id = null; event = "message"; data = [];
    } else if (!line.startsWith(":")) {
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (name === "data") data.push(value);
      else if (name === "event") event = value;
      else if (name === "id") id = Number(value);
    }
  }
}

// Every event of the session's latest turn (or after `lastEventId`) until the turn's end.
export async function* follow(sessionId, { lastEventId = null, signal, route = "/agent/progress" } = {}) {
  let failures = 0;
  for (;;) {
    let progressed = false;
    try {
      const extra = lastEventId === null ? {} : { "Last-Event-ID": String(lastEventId) };
      const response = await fetch(`${route}/${encodeURIComponent(sessionId)}`, {
        headers: headers({ accept: "text/event-stream", ...extra }),
        signal,
      });
      if (response.status === 204) return;  // everything seen, and the agent is idle
      if (!response.ok) {
        const error = await errorOf(response);
        if (response.status < 500) throw error;  // not something a retry mends
        throw Object.assign(error, { retry: true });
      }
      for await (const event of events(response.body)) {
        if (event.id !== null) {
          if (lastEventId !== null && event.id <= lastEventId) continue;
          lastEventId = event.id;
        }
        progressed = true;
        yield event;
        if (TERMINAL.has(event.data.messageType)) return;
      }
    } catch (error) {
      if (signal && signal.aborted) return;
      if (error.status && !error.retry) throw error;
    }
    failures = progressed ? 0 : failures + 1;
    if (failures >= MAX_ATTEMPTS) throw new Error(`lost the stream of session ${sessionId} after event ${lastEventId}`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** failures, 5000)));
  }
}
