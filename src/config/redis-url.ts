/**
 * Why ioredis (and Bull, which hands it the same URL) would fail on `url`, or undefined. ioredis parses it with
 * `new URL` and sends the path as the database number to SELECT; either failure was an uncaught error at start.
 */
export function redisUrlProblem(url: string): string | undefined {
  if (!URL.canParse(url)) return 'is not a valid URL';
  const { pathname } = new URL(url);
  if (pathname !== '' && pathname !== '/' && !/^\/\d+$/.test(pathname)) {
    return 'must have a database number as its path (/0, /1, ...) or none';
  }
  return undefined;
}
