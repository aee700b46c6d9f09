// "Where you are signed in": the caller's sign-ins, and ending one or all the others.

import { call, csrfToken, describe } from "./api.js";
import { $, accessToken, say, session, showError } from "./page.js";

// A call to the session endpoints with this tab's credentials: the access token in
// token mode; in cookie mode the cookie, and the CSRF token for the DELETEs.
async function sessionsCall(path, method = "GET") {
  if (session.mode === "token") return call(path, { method, token: accessToken() });
  const csrf = method === "GET" ? undefined : await csrfToken();
  return call(path, { method, cookies: true, csrf });
}

export async function loadSessions() {
  const result = await sessionsCall("/api/v1/auth/sessions");
  if (!result.ok) return showError(`Your sessions could not be listed: ${describe(result)}`);
  session.sessions = result.data.sessions;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

export function renderSessions(onEnd) {
  const rows = session.sessions.map((signIn) => {
    const row = document.createElement("tr");
    row.dataset.sessionId = signIn.id;
    const client = `${signIn.user_agent} (${signIn.kind === "browser" ? "browser" : "app tokens"})`;
    row.append(
      cell(client),
      cell(signIn.ip ?? "unknown"),
      cell(new Date(signIn.created_at).toLocaleString()),
      cell(new Date(signIn.last_used_at).toLocaleString()),
    );
    const action = document.createElement("td");
    if (signIn.current) {
      action.textContent = "This session";
    } else {
      const end = document.createElement("button");
      end.type = "button";
      end.textContent = "End";
      end.setAttribute("aria-label", `End the session of ${client}`);
      end.addEventListener("click", () => onEnd(signIn.id));
      action.append(end);
    }
    row.append(action);
    return row;
  });
  $("#session-rows").replaceChildren(...rows);
}

export async function endSession(id) {
  const result = await sessionsCall(`/api/v1/auth/sessions/${encodeURIComponent(id)}`, "DELETE");
  if (result.status !== 204) return showError(`The session was not ended: ${describe(result)}`);
  await loadSessions();
  say("Session ended: it is signed out at its next request.");
}

export async function endOtherSessions() {
  const result = await sessionsCall("/api/v1/auth/sessions", "DELETE");
  if (!result.ok) return showError(`The other sessions were not ended: ${describe(result)}`);
  await loadSessions();
  const ended = result.data.ended;
  say(ended ? `Ended ${ended} other session${ended === 1 ? "" : "s"}.` : "No other session to end.");
}
