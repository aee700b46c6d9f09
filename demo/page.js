// The page's state and the few ways it shows things, shared by its modules.

// Tokens live in these variables; only a bound refresh token is also kept for a reload.
export const session = {
  mode: null, // "cookie" or "token"
  me: null, // the answer of GET /api/v1/auth/me
  accessToken: null,
  tokenType: null, // "Bearer", or "DPoP" for a pair bound to this browser's key
  refreshToken: null, // token mode only; in cookie mode the browser keeps it as a cookie
  key: null, // this browser's DPoP key, null where it cannot keep one
  sessions: [], // the answer of GET /api/v1/auth/sessions
};

export const $ = (selector) => document.querySelector(selector);

// The access token as `call` sends it: `Authorization: <type> <token>`.
export function accessToken() {
  return { type: session.tokenType, value: session.accessToken };
}

// --- showing things -------------------------------------------------------------------

export function say(text) {
  $("#message").textContent = text;
}

export function showError(text) {
  const error = $("#error");
  error.textContent = text;
  error.hidden = !text;
}

export function fillList(list, items) {
  list.replaceChildren(
    ...items.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }),
  );
}
