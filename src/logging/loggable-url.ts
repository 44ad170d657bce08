/**
 * Query parameters whose values are credentials or personal data wherever a client puts them: `?access_token=` (RFC
 * 6750 §2.3, which some clients still send), `?password=` and `?email=` on a form sent with the wrong method.
 */
const SECRET_PARAMETER = /token|passw|secret|auth|jwt|session|signature|api[-_]?key|email/i;
/** A JWT (header and payload base64url JSON, `eyJ` being `{"`), under any parameter name or in the path. */
const JWT = /eyJ[\w-]*\.[\w-]*\.[\w-]*/g;
const REDACTED = '[redacted]';

/**
 * The request URL as log lines may keep it. The API takes tokens only in the Authorization header and refuses any
 * other query parameter, but a refused request is logged too: without this, a client that sent its token or password
 * in the URL left it, still valid, in every log pipeline. Parameter names stay, so the line still says what was sent.
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
      return SECRET_PARAMETER.test(decodedName(name)) ? `${name}=${REDACTED}` : pair.replace(JWT, REDACTED);
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
