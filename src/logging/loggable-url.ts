/**
 * Query parameters whose values are credentials or personal data wherever a client puts them: `?access_token=` (RFC
 * 6750 §2.3, which some clients still send), `?password=` and `?email=` on a form sent with the wrong method.
 */
const SECRET_PARAMETER = /token|passw|secret|auth|jwt|session|signature|api[-_]?key|email/i;
/** A member's position (`GET /v1/profiles/nearby?lat=&lng=`): on a dating app, most often where they live. */
const POSITION_PARAMETER = /^(lat|lng|lon|latitude|longitude)$/i;
/** A JWT (header and payload base64url JSON, `eyJ` being `{"`), under any parameter name or in the path. */
const JWT = /eyJ[\w-]*\.[\w-]*\.[\w-]*/g;
const REDACTED = '[redacted]';
/**
 * The most of a URL a log line keeps: the longest a batch item may name. Finding JWTs takes time quadratic in a run of
 * "eyJ" (each one is read to the end of the run), and the request line of every request, a 404 or a probe too, found
 * them in a 16 KB URL of "eyJeyJ…" for 85 ms of the event loop before this limit.
 */
export const MAX_LOGGED_URL_LENGTH = 2048;
const TRUNCATED = '[truncated]';
/** What a JWT is written in: a run of these that the limit cuts could hold part of one, left unredacted. */
const TOKEN_CHARACTER = /[\w.-]/;

/**
 * The request URL as log lines and traces may keep it. The API takes tokens only in the Authorization header and
 * refuses any other query parameter, but a refused request is logged too: without this, a client that sent its token
 * or password in the URL left it, still valid, in every log pipeline. A nearby search's coordinates go too (until
 * 2026-12-04 every such request logged the member's position). Parameter names stay, so the line says what was sent.
 */
export function loggableUrl(fullUrl: string): string {
  const url = shortened(fullUrl);
  const queryStart = url.indexOf('?');
  const path = url.slice(0, queryStart === -1 ? undefined : queryStart).replace(JWT, REDACTED);
  if (queryStart === -1) return path;
  const query = url
    .slice(queryStart + 1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      if (equals === -1) return pair.replace(JWT, REDACTED);
      const name = pair.slice(0, equals);
      const decoded = decodedName(name);
      const personal = SECRET_PARAMETER.test(decoded) || POSITION_PARAMETER.test(decoded);
      return personal ? `${name}=${REDACTED}` : pair.replace(JWT, REDACTED);
    });
  return `${path}?${query.join('&')}`;
}

/**
 * `url` cut to at most MAX_LOGGED_URL_LENGTH characters and marked as cut. The cut goes back to the start of a run of
 * token characters it falls in, so no part of a JWT is kept where the redaction would not recognise it.
 */
function shortened(url: string): string {
  if (url.length <= MAX_LOGGED_URL_LENGTH) return url;
  let end = MAX_LOGGED_URL_LENGTH;
  if (TOKEN_CHARACTER.test(url[end])) {
    while (end > 0 && TOKEN_CHARACTER.test(url[end - 1])) end--;
  }
  return `${url.slice(0, end)}${TRUNCATED}`;
}

/** `access%5Ftoken` is `access_token` to the query parser; a name that does not decode is matched as sent. */
function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replaceAll('+', ' '));
  } catch {
    return name;
  }
}
