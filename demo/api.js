// Where the API is, and one way to call it: with the session cookie, or with an access
// token (Bearer, or DPoP with a proof signed by this browser's key).

import { dpopKey, proofFor, rememberNonce } from "./dpop.js";

const DEFAULT_API = "http://127.0.0.1:8000";
// sessionStorage: the API's base URL, so that a return URL without ?api= still reaches
// the right server.
const API_KEY = "demo.api";

export const API = chooseApi();

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
export function pageUrl(extra = {}) {
  const url = new URL(location.pathname, location.origin);
  if (API !== DEFAULT_API) url.searchParams.set("api", API);
  for (const [name, value] of Object.entries(extra)) url.searchParams.set(name, value);
  return url.href;
}

export function loginUrl(params) {
  return `${API}/auth/login?${new URLSearchParams(params)}`;
}

class Unreachable extends Error {}

// One request to the API. Cookies go along only when asked for: token-mode requests
// carry their credentials in the Authorization header and nothing else. `token` is
// {type, value} of an access token; a DPoP one goes with a proof that hashes it, and
// `proof` asks for a proof without one (a redemption or a refresh that binds). A 401
// `use_dpop_nonce` is retried once, with the nonce the API has just sent.
export async function call(
  path,
  { method = "GET", body, token, cookies = false, csrf, proof = false } = {},
) {
  const url = API + path;
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `${token.type} ${token.value}`;
  if (csrf) headers["X-CSRFToken"] = csrf;
  const bound = token?.type === "DPoP";
  const key = proof || bound ? await dpopKey() : null;
  const init = {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: cookies ? "include" : "omit",
    cache: "no-store",
  };
  const attempt = async () => {
    if (key) headers.DPoP = await proofFor(key, method, url, bound ? token.value : undefined);
    return send(url, init);
  };
  const result = await attempt();
  if (key && result.status === 401 && result.data.error === "use_dpop_nonce") return attempt();
  return result;
}

async function send(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    // fetch hides why on purpose; these are the two usual reasons.
    throw new Unreachable(
      `The API at ${API} could not be reached: it is not running, or it does not ` +
        `accept requests from this page's origin (${location.origin}) under CORS.`,
    );
  }
  rememberNonce(url, response);
  let data = {};
  try {
    data = await response.json();
  } catch {
    // Not JSON; the status says enough.
  }
  return { ok: response.ok, status: response.status, data };
}

export function describe(result) {
  const detail = result.data.detail || `The API answered with status ${result.status}.`;
  return result.data.error ? `${detail} (${result.status} ${result.data.error})` : detail;
}

// The CSRF token for cookie-authenticated POSTs. The CSRF cookie is HttpOnly, so the
// token comes from this endpoint; a page on another origin cannot read its answer.
export async function csrfToken() {
  const result = await call("/api/v1/auth/csrf", { cookies: true });
  if (!result.ok) throw new Error(`No CSRF token: ${describe(result)}`);
  return result.data.csrf_token;
}
