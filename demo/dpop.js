// DPoP (RFC 9449) for the demo web app: one P-256 key pair per browser, made by WebCrypto
// as non-extractable and kept as it is in IndexedDB (CryptoKey objects survive a
// structured clone, so the private key never exists outside the browser's key store),
// and the proofs signed with it.

const DB_NAME = "demo-dpop";
const STORE = "keys";
const KEY_ID = "dpop";
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING = { name: "ECDSA", hash: "SHA-256" };

const encoder = new TextEncoder();
// The latest DPoP-Nonce each origin sent; a proof to that origin carries it.
const nonces = new Map();
let keyPromise;

export function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

function encodeJson(value) {
  return base64url(encoder.encode(JSON.stringify(value)));
}

async function sha256(text) {
  return base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text))));
}

// Resolve an IndexedDB request.
function settled(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function openDatabase() {
  const opening = indexedDB.open(DB_NAME, 1);
  opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
  return settled(opening);
}

// Return this browser's key pair, made on first use. When two tabs make one at once,
// the first stored wins and the other tab uses it.
async function storedKeyPair(database) {
  const read = () => settled(database.transaction(STORE).objectStore(STORE).get(KEY_ID));
  const existing = await read();
  if (existing) return existing;
  const pair = await crypto.subtle.generateKey(ALGORITHM, false, ["sign", "verify"]);
  try {
    await settled(database.transaction(STORE, "readwrite").objectStore(STORE).add(pair, KEY_ID));
    return pair;
  } catch (error) {
    if (error?.name !== "ConstraintError") throw error;
    return read();
  }
}

async function loadKey() {
  if (!globalThis.isSecureContext || !crypto.subtle || !globalThis.indexedDB) return null;
  let database;
  try {
    database = await openDatabase();
  } catch {
    return null; // IndexedDB exists but refuses this page (a private window, a policy).
  }
  const pair = await storedKeyPair(database);
  database.close();
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const jwk = { kty, crv, x, y };
  // RFC 7638: the required members in lexicographic order, no whitespace.
  const thumbprint = await sha256(JSON.stringify({ crv, kty, x, y }));
  return { privateKey: pair.privateKey, jwk, thumbprint };
}

// Return {privateKey, jwk, thumbprint} of this browser's DPoP key, or null where WebCrypto
// or IndexedDB is not available (then the tokens stay unbound).
export function dpopKey() {
  keyPromise ??= loadKey();
  return keyPromise;
}

// Return a DPoP proof for one request: `accessToken` adds its hash (`ath`), as the
// resource endpoints want; the origin's latest nonce goes along when it sent one.
export async function proofFor(key, method, url, accessToken) {
  const target = new URL(url);
  const claims = {
    htm: method,
    htu: target.origin + target.pathname,
    iat: Math.floor(Date.now() / 1000),
    jti: base64url(crypto.getRandomValues(new Uint8Array(16))),
  };
  const nonce = nonces.get(target.origin);
  if (nonce) claims.nonce = nonce;
  if (accessToken) claims.ath = await sha256(accessToken);
  const input = `${encodeJson({ typ: "dpop+jwt", alg: "ES256", jwk: key.jwk })}.${encodeJson(claims)}`;
  // WebCrypto's ECDSA signature is already r || s, the form JWS uses.
  const signature = await crypto.subtle.sign(SIGNING, key.privateKey, encoder.encode(input));
  return `${input}.${base64url(new Uint8Array(signature))}`;
}

// Remember the nonce an answer carries, for the next proof to its origin.
export function rememberNonce(url, response) {
  const nonce = response.headers.get("DPoP-Nonce");
  if (nonce) nonces.set(new URL(url).origin, nonce);
}
