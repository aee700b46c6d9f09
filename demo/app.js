// The demo web app: it lives on another site than the API, so it tries the API's session
// cookie first ("cookie mode") and, when the browser does not send that cookie to another
// site (third-party cookies blocked), logs in through the token handoff of API.md instead
// ("token-handoff mode"), its tokens bound to this browser's DPoP key where the browser
// can keep one. Plain JavaScript modules, no build step.

import { API, call, csrfToken, describe, loginUrl, pageUrl } from "./api.js";
import { base64url, dpopKey } from "./dpop.js";
import { $, accessToken, fillList, say, session, showError } from "./page.js";
import { endOtherSessions, endSession, loadSessions, renderSessions } from "./sessions.js";

// sessionStorage holds, besides the API's base URL: for the length of one login round
// trip, the handoff verifier; and in token-handoff mode a DPoP-bound refresh token, which
// is useless without this browser's key (an unbound one is never stored).
const HANDOFF_KEY = "demo.handoff";
const REFRESH_KEY = "demo.refresh";
const COOKIE_LOGIN = "cookie-login";
const PAUSE_BEFORE_HANDOFF_MS = 2000;

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
  renderBinding();

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
  if (me) renderSessions((id) => run(() => endSession(id)));

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

// Say in words whether this tab's tokens are bound to its key, and what follows from it.
function renderBinding() {
  const bound = session.mode === "token" && session.tokenType === "DPoP";
  $("#bound-note").hidden = !bound;
  $("#key-thumbprint").textContent = session.key?.thumbprint ?? "";
  $("#unbound-note").hidden = session.mode !== "token" || bound;
  $("#unbound-reason").textContent = session.key
    ? "The API issued plain Bearer tokens, not bound to this browser's key."
    : "This browser offers no WebCrypto key store here (WebCrypto and IndexedDB in a " +
      "secure context), so your tokens are plain Bearer tokens, not bound to a key.";
}

function forget() {
  Object.assign(session, {
    mode: null,
    me: null,
    accessToken: null,
    tokenType: null,
    refreshToken: null,
    sessions: [],
  });
  sessionStorage.removeItem(REFRESH_KEY);
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
// the token pair, bound to this browser's key by the proof that goes along. No cookie
// and no CSRF token are involved.
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
    proof: true,
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
  session.tokenType = pair.token_type;
  // In cookie mode the refresh token is also the HttpOnly cookie the API just set; the
  // page has no use for its own copy, so it keeps none.
  if (session.mode !== "token") return;
  session.refreshToken = pair.refresh_token;
  // A bound refresh token is kept for a reload of this tab: copied elsewhere, it is
  // useless without the key, which cannot leave this browser.
  if (session.tokenType === "DPoP") {
    sessionStorage.setItem(REFRESH_KEY, JSON.stringify({ api: API, token: pair.refresh_token }));
  } else {
    sessionStorage.removeItem(REFRESH_KEY);
  }
}

// Rotate the refresh token of token mode, with a proof by this browser's key.
function refreshTokens(refreshToken) {
  return call("/api/v1/auth/refresh", {
    method: "POST",
    body: { refresh_token: refreshToken },
    proof: true,
  });
}

// After a reload: the bound refresh token this tab kept buys a new pair.
async function resume(refreshToken) {
  session.mode = "token";
  const pair = await refreshTokens(refreshToken);
  if (!pair.ok) {
    forget();
    showError(`Your login could not be resumed: ${describe(pair)}`);
    return render();
  }
  keepPair(pair.data);
  await loadMeWithToken();
  if (session.me) say("Welcome back: this tab's bound refresh token resumed your login.");
}

function keptRefreshToken() {
  const kept = JSON.parse(sessionStorage.getItem(REFRESH_KEY) ?? "null");
  return kept?.api === API ? kept.token : null;
}

async function loadMeWithToken() {
  const result = await call("/api/v1/auth/me", { token: accessToken() });
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
  "it logs you in again and receives its tokens directly.";

async function start() {
  $("#app-origin").textContent = location.origin;
  $("#api-base").textContent = API;
  const loginCode = takeFromFragment("login_code");
  const after = takeFromQuery("after");
  const loginError = takeFromQuery("error");
  if (loginError) showError(`The login did not complete (${loginError}). Try again.`);
  session.key = await dpopKey();
  if (loginCode) return finishHandoff(loginCode);
  const kept = keptRefreshToken();
  if (kept) return resume(kept);

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
      ? await call("/api/v1/auth/token", { method: "POST", token: accessToken() })
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
      ? await refreshTokens(session.refreshToken)
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
  const { refreshToken } = session;
  const oldAccessToken = accessToken();
  // Logging out with the access token revokes its whole token family at the API.
  let result = await call("/auth/logout", { method: "POST", token: oldAccessToken });
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
  const oldAccess = await call("/api/v1/auth/me", { token: oldAccessToken });
  const oldRefresh = await refreshTokens(refreshToken);
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
