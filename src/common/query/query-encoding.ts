/**
 * Whether a URL's query string decodes: every `%` starts an escape, and the escapes spell UTF-8. Fastify's parser
 * (fast-querystring) keeps a value it cannot decode as it was sent, so `?city=caf%E9` (Latin-1) searched for a city
 * named "caf%e9" and answered an empty page with a 200, while a path with the same bytes is a 400.
 */
export function queryDecodes(url: string): boolean {
  const start = url.indexOf('?');
  // Nothing to decode without a `%`: the common case costs one scan.
  if (start === -1 || !url.includes('%', start)) return true;
  try {
    decodeURIComponent(url.slice(start + 1).replace(/\+/g, ' '));
    return true;
  } catch {
    return false;
  }
}
