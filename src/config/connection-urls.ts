import { MongoClient } from 'mongodb';

/**
 * Why the MongoDB driver would refuse `uri`, or undefined. Building a client parses the URI and its options
 * (hosts, ports, `?option=` names and values) without connecting; an invalid one would otherwise surface only at
 * connect time, as retries with stack traces instead of one start-up line.
 */
export function mongoUriProblem(uri: string): string | undefined {
  try {
    new MongoClient(uri);
    return undefined;
  } catch (error) {
    return `is not a URI the MongoDB driver accepts: ${(error as Error).message}`;
  }
}

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
