"use strict";

// The demo web app: it lives on another site than the API, so it tries the API's session
// cookie first ("cookie mode") and, when the browser does not send that cookie to another
// site (third-party cookies blocked), logs in through the token handoff of API.md instead
// ("token-handoff mode"). Plain JavaScript, no build step.

const DEFAULT_API = "http://127.0.0.1:8000";
// sessionStorage holds two things only: the API's base URL (so a return URL without
// ?api= still reaches the right server) and, for the length of one login round trip,
// the handoff verifier. Never a token.
const API_KEY = "demo.api";
const HANDOFF_KEY = "demo.handoff";
const COOKIE_LOGIN = "cookie-login";
const PAUSE_BEFORE_HANDOFF_MS = 2000;

const API = chooseApi();

// Tokens live in these variables and nowhere else: a reload forgets them on purpose.
const session = {
  mode: null, // "cookie" or "token"
  me: null, // the answer of GET /api/v1/auth/me
  accessToken: null,
  refreshToken: null, // token mode only; in cookie mode the browser keeps it as a cookie
  sessions: [], // the answer of GET /api/v1/auth/sessions
};

const $ = (selector) => document.querySelector(selector);

function chooseApi() {
  const requested = new URLSearchParams(location.search).get("api");
  let url;
  try {
    url = new URL(requested || sessionStorage.getItem(API_KEY) || DEFAULT_API);
  } catch {
    url = new URL(DEFAULT_API);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") url = new URL(DEFAULT_API);
  sessionStorage.setItem(API_KEY, url.origin);
  return url.origin;
}

// This page's address to come back to, keeping the API's address so that the page that
// loads after the login talks to the same server.
function pageUrl(extra = {}) {
  const url = new URL(location.pathname, location.origin);
  if (API !== DEFAULT_API) url.searchParams.set("api", API);
  for (const [name, value] of Object.entries(extra)) url.searchParams.set(name, value);
  return url.href;
}

function loginUrl(params) {
  return `${API}/auth/login?${new URLSearchParams(params)}`;
}

// --- talking to the API ---------------------------------------------------------------

class Unreachable extends Error {}

// One request to the API. Cookies go along only when asked for: token-mode requests
// carry their credentials in the Authorization header and nothing else.
async function call(path, { method = "GET", body, bearer, cookies = false, csrf } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (csrf) headers["X-CSRFToken"] = csrf;
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: cookies ? "include" : "omit",
      cache: "no-store",
    });
  } catch {
    // fetch hides why on purpose; these are the two usual reasons.
    throw new Unreachable(
      `The API at ${API} could not be reached: it is not running, or it does not ` +
        `accept requests from this page's origin (${location.origin}) under CORS.`,
    );
  }
  let data = {};
  try {
    data = await response.json();
  } catch {
    // Not JSON; the status says enough.
  }
  return { ok: response.ok, status: response.status, data };
}

function describe(result) {
  const detail = result.data.detail || `The API answered with status ${result.status}.`;
  return result.data.error ? `${detail} (${result.status} ${result.data.error})` : detail;
}

// The CSRF token for cookie-authenticated POSTs. The CSRF cookie is HttpOnly, so the
// token comes from this endpoint; a page on another origin cannot read its answer.
async function csrfToken() {
  const result = await call("/api/v1/auth/csrf", { cookies: true });
  if (!result.ok) throw new Error(`No CSRF token: ${describe(result)}`);
  return result.data.csrf_token;
}

// --- showing things -------------------------------------------------------------------

function say(text) {
  $("#message").textContent = text;
}

function showError(text) {
  const error = $("#error");
  error.textContent = text;
  error.hidden = !text;
}

function fillList(list, items) {
  list.replaceChildren(
    ...items.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }),
  );
}

// The claims of a JWT, for display only: this page trusts the API, not its own decoding.
function claimsOf(jwt) {
  const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "=")));
}

function render() {
  const me = session.me;
  $("#status").textContent = me ? "Logged in" : "Logged out";
  $("#status").className = me ? "badge ok" : "badge";
  $("#mode").textContent = {
    cookie: "Cookie mode",
    token: "Token-handoff mode",
  }[session.mode] ?? "";
  $("#mode").hidden = !session.mode;
  $("#memory-note").hidden = session.mode !== "token";

  $("#login").disabled = Boolean(me);
  for (const id of ["#get-token", "#refresh", "#logout", "#reload-sessions", "#end-others"]) {
    $(id).disabled = !me;
  }

  $("#profile").hidden = !me;
  if (me) {
    $("#user-name").textContent = me.name || "(no name)";
    $("#user-email").textContent = me.email || "(no email)";
    $("#user-role").textContent = me.role;
    $("#org-name").textContent = me.organisation?.name ?? "(no organisation)";
    $("#org-plan").textContent = me.organisation
      ? `${me.organisation.subscription_plan} plan`
      : "";
    fillList(
      $("#applications"),
      me.applications.map((app) => `${app.name} (${app.tier})`),
    );
    fillList(
      $("#features"),
      Object.entries(me.features).map(([key, on]) => `${key}: ${on ? "on" : "off"}`),
    );
  }

  $("#sessions").hidden = !me;
  if (me) renderSessions();

  $("#token").hidden = !session.accessToken;
  if (session.accessToken) {
    const claims = claimsOf(session.accessToken);
    const expires = new Date(claims.exp * 1000);
    const minutes = Math.round((expires - Date.now()) / 60000);
    $("#token-expiry").textContent = `${expires.toLocaleTimeString()} (in about ${minutes} min)`;
    $("#token-expiry").dataset.exp = String(claims.exp);
    $("#token-id").textContent = String(claims.jti ?? "").slice(0, 12);
  }
}

function forget() {
  Object.assign(session, {
    mode: null,
    me: null,
    accessToken: null,
    refreshToken: null,
    sessions: [],
  });
}

// --- the login ------------------------------------------------------------------------

// Read `name` from the fragment and remove the whole fragment from the address bar and
// history at once, so that a one-time login code is not left lying around.
function takeFromFragment(name) {
  if (!location.hash) return null;
  const value = new URLSearchParams(location.hash.slice(1)).get(name);
  history.replaceState(null, "", location.pathname + location.search);
  return value;
}

// Read and remove a query marker, so that a reload does not act on it twice.
function takeFromQuery(name) {
  const url = new URL(location.href);
  const value = url.searchParams.get(name);
  if (value !== null) {
    url.searchParams.delete(name);
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return value;
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

function logInWithCookie() {
  location.assign(loginUrl({ next: pageUrl({ after: COOKIE_LOGIN }) }));
}

// Token handoff, first half: a fresh verifier stays in this tab; only its SHA-256
// (S256) goes to the API, which binds the one-time login code to it.
async function beginHandoff(reason) {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const challenge = base64url(new Uint8Array(digest));
  // The verifier must survive the navigation to the API and back (memory would not);
  // sessionStorage is this tab's only, and finishHandoff deletes it on return.
  sessionStorage.setItem(HANDOFF_KEY, JSON.stringify({ verifier, reason }));
  location.assign(loginUrl({ mode: "token", handoff_challenge: challenge, next: pageUrl() }));
}

// Token handoff, second half: the login code from the fragment plus the verifier buy
// the token pair. No cookie and no CSRF token are involved.
async function finishHandoff(code) {
  const saved = JSON.parse(sessionStorage.getItem(HANDOFF_KEY) ?? "null");
  sessionStorage.removeItem(HANDOFF_KEY);
  if (!saved) {
    showError(
      "A login code arrived, but this tab holds no verifier for it (was the login " +
        "started in another tab?). Log in again.",
    );
    return render();
  }
  const pair = await call("/api/v1/auth/token", {
    method: "POST",
    body: { login_code: code, handoff_verifier: saved.verifier },
  });
  if (!pair.ok) {
    showError(`The login could not be completed: ${describe(pair)}`);
    return render();
  }
  session.mode = "token";
  keepPair(pair.data);
  await loadMeWithToken();
  if (session.me) say(`${saved.reason ?? ""} Done: you are logged in by token handoff.`.trim());
}

function keepPair(pair) {
  session.accessToken = pair.access_token;
  // In cookie mode the refresh token is also the HttpOnly cookie the API just set; the
  // page has no use for its own copy, so it keeps none.
  if (session.mode === "token") session.refreshToken = pair.refresh_token;
}

async function loadMeWithToken() {
  const result = await call("/api/v1/auth/me", { bearer: session.accessToken });
  if (result.ok) {
    session.me = result.data;
    await loadSessions();
  } else {
    forget();
    showError(`The API does not know you any more: ${describe(result)}`);
  }
  render();
}

const BLOCKED_EXPLANATION =
  "You logged in, but the API still answers 401: this browser blocks third-party " +
  "cookies, so the API's session cookie (the API is on another site than this page) " +
  "is not sent with this page's requests. The app continues in token-handoff mode: " +
  "it logs you in again and receives its tokens directly, keeping them in memory.";

async function start() {
  $("#app-origin").textContent = location.origin;
  $("#api-base").textContent = API;
  const loginCode = takeFromFragment("login_code");
  const after = takeFromQuery("after");
  const loginError = takeFromQuery("error");
  if (loginError) showError(`The login did not complete (${loginError}). Try again.`);
  if (loginCode) return finishHandoff(loginCode);

  const me = await call("/api/v1/auth/me", { cookies: true });
  if (me.ok) {
    session.mode = "cookie";
    session.me = me.data;
    if (after === COOKIE_LOGIN) {
      say("Logged in with the API's session cookie: this browser sends it to the API.");
    }
    await loadSessions();
    return render();
  }
  if (me.status === 401 && after === COOKIE_LOGIN) {
    // The login itself succeeded (the API redirected back here), so a 401 now means the
    // cookie was not sent. Say so, give the person a moment to read it, then switch.
    say(BLOCKED_EXPLANATION);
    render();
    $("#status").textContent = "Switching to token-handoff mode…";
    $("#login").disabled = true;
    await new Promise((resolve) => setTimeout(resolve, PAUSE_BEFORE_HANDOFF_MS));
    return beginHandoff(BLOCKED_EXPLANATION);
  }
  if (me.status !== 401) showError(`The API could not say who you are: ${describe(me)}`);
  render();
}

// --- the buttons ----------------------------------------------------------------------

async function getToken() {
  const result =
    session.mode === "token"
      ? await call("/api/v1/auth/token", { method: "POST", bearer: session.accessToken })
      : await call("/api/v1/auth/token", {
          method: "POST",
          cookies: true,
          csrf: await csrfToken(),
        });
  if (!result.ok) return showError(`No app token: ${describe(result)}`);
  keepPair(result.data);
  render();
  say(
    session.mode === "token"
      ? `Got a new token pair; the access token expires at ${$("#token-expiry").textContent}.`
      : `Got an app access token; it expires at ${$("#token-expiry").textContent}. ` +
          "Its refresh token is kept by the browser as an HttpOnly cookie.",
  );
}

async function refresh() {
  const result =
    session.mode === "token"
      ? await call("/api/v1/auth/refresh", {
          method: "POST",
          body: { refresh_token: session.refreshToken },
        })
      : await call("/api/v1/auth/refresh", {
          method: "POST",
          cookies: true,
          csrf: await csrfToken(),
        });
  if (!result.ok) return showError(`The refresh was refused: ${describe(result)}`);
  keepPair(result.data);
  render();
  say(`Token refreshed: the new access token expires at ${$("#token-expiry").textContent}.`);
}

async function logOut() {
  const logoutUrl = session.mode === "token" ? await logOutTokens() : await logOutCookie();
  if (logoutUrl === undefined) return;
  const link = $("#provider-logout");
  link.href = logoutUrl;
  $("#provider-logout-line").hidden = !logoutUrl;
}

async function logOutCookie() {
  const result = await call("/auth/logout", {
    method: "POST",
    cookies: true,
    csrf: await csrfToken(),
  });
  if (!result.ok) return void showError(`The logout failed: ${describe(result)}`);
  // Check with the API rather than assume: the session must really be gone.
  const me = await call("/api/v1/auth/me", { cookies: true });
  if (me.ok) return void showError("The API still knows you after the logout.");
  forget();
  render();
  say(`Logged out. The API confirms it: /api/v1/auth/me now answers ${me.status}.`);
  return result.data.logout_url;
}

async function logOutTokens() {
  const { accessToken, refreshToken } = session;
  // Logging out with the access token revokes its whole token family at the API.
  let result = await call("/auth/logout", { method: "POST", bearer: accessToken });
  if (result.status === 401) {
    // The access token has already expired or been revoked; the refresh token below is
    // still revoked, and an anonymous logout still tells where the provider logs out.
    result = await call("/auth/logout", { method: "POST" });
  }
  const revoked = await call("/api/v1/auth/revoke", {
    method: "POST",
    body: { refresh_token: refreshToken },
  });
  forget();
  render();
  if (!result.ok || !revoked.ok) {
    showError(`The logout failed: ${describe(result.ok ? revoked : result)}`);
    return result.data.logout_url ?? null;
  }
  // Check with the API rather than assume: both old tokens must now be refused.
  const oldAccess = await call("/api/v1/auth/me", { bearer: accessToken });
  const oldRefresh = await call("/api/v1/auth/refresh", {
    method: "POST",
    body: { refresh_token: refreshToken },
  });
  if (oldAccess.ok || oldRefresh.ok) {
    showError("The API still accepts the old tokens after the logout.");
  } else {
    say(
      "Logged out; this tab has forgotten its tokens. The API confirms it: the old " +
        `access token is refused (${oldAccess.status} ${oldAccess.data.error}) and so is ` +
        `the old refresh token (${oldRefresh.status} ${oldRefresh.data.error}).`,
    );
  }
  return result.data.logout_url;
}

// --- where you are signed in ---------------------------------------------------------

// A call to the session endpoints with this tab's credentials: the access token in
// token mode; in cookie mode the cookie, and the CSRF token for the DELETEs.
async function sessionsCall(path, method = "GET") {
  if (session.mode === "token") return call(path, { method, bearer: session.accessToken });
  const csrf = method === "GET" ? undefined : await csrfToken();
  return call(path, { method, cookies: true, csrf });
}

async function loadSessions() {
  const result = await sessionsCall("/api/v1/auth/sessions");
  if (!result.ok) return showError(`Your sessions could not be listed: ${describe(result)}`);
  session.sessions = result.data.sessions;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function renderSessions() {
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
      end.addEventListener("click", () => run(() => endSession(signIn.id)));
      action.append(end);
    }
    row.append(action);
    return row;
  });
  $("#session-rows").replaceChildren(...rows);
}

async function endSession(id) {
  const result = await sessionsCall(`/api/v1/auth/sessions/${encodeURIComponent(id)}`, "DELETE");
  if (result.status !== 204) return showError(`The session was not ended: ${describe(result)}`);
  await loadSessions();
  say("Session ended: it is signed out at its next request.");
}

async function endOtherSessions() {
  const result = await sessionsCall("/api/v1/auth/sessions", "DELETE");
  if (!result.ok) return showError(`The other sessions were not ended: ${describe(result)}`);
  await loadSessions();
  const ended = result.data.ended;
  say(ended ? `Ended ${ended} other session${ended === 1 ? "" : "s"}.` : "No other session to end.");
}

// One action at a time, errors shown in words.
async function run(action) {
  const buttons = document.querySelectorAll("button");
  for (const button of buttons) button.disabled = true;
  showError("");
  try {
    await action();
  } catch (error) {
    showError(error.message);
  } finally {
    render();
  }
}

function wire(id, action) {
  $(id).addEventListener("click", () => run(action));
}

wire("#login", async () => {
  say("Taking you to the login page…");
  logInWithCookie();
});
wire("#get-token", getToken);
wire("#refresh", refresh);
wire("#logout", logOut);
wire("#reload-sessions", loadSessions);
wire("#end-others", endOtherSessions);

start().catch((error) => {
  showError(error.message);
  render();
});
