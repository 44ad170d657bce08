import { MongoClient } from 'mongodb';

/**
 * Why the MongoDB driver would refuse `uri`, or undefined. Building a client parses the URI and its options
 * (hosts, ports, `?option=` names and values) without connecting; an invalid one would otherwise surface only at
 * connect time, as retries with stack traces instead of one start-up line. Not part of the env schema: importing
 * mongodb before tracing starts would leave the driver uninstrumented, so main.ts asks once tracing runs.
 */
export function mongoUriProblem(uri: string): string | undefined {
  try {
    new MongoClient(uri);
    return undefined;
  } catch (error) {
    return `is not a URI the MongoDB driver accepts: ${(error as Error).message}`;
  }
}
