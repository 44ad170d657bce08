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
 * The request URL as log lines and traces may keep it. The API takes tokens only in the Authorization header and
 * refuses any other query parameter, but a refused request is logged too: without this, a client that sent its token
 * or password in the URL left it, still valid, in every log pipeline. A nearby search's coordinates go too (until
 * 2026-12-04 every such request logged the member's position). Parameter names stay, so the line says what was sent.
 */
export function loggableUrl(url: string): string {
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

/** `access%5Ftoken` is `access_token` to the query parser; a name that does not decode is matched as sent. */
function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replaceAll('+', ' '));
  } catch {
    return name;
  }
}
