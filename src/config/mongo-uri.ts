import { accessSync, constants, statSync } from 'node:fs';
import { MongoClient } from 'mongodb';
import { ConfigError } from './app-config.js';

/** The URI options naming files the driver reads when it connects over TLS. */
const TLS_FILE_OPTIONS = ['tlsCAFile', 'tlsCertificateKeyFile', 'tlsCRLFile'] as const;

/**
 * Why the MongoDB driver would refuse `uri`, or undefined. Building a client parses the URI and its options
 * (hosts, ports, `?option=` names and values) without connecting; an invalid one would otherwise surface only at
 * connect time, as retries with stack traces instead of one start-up line. Not part of the env schema: importing
 * mongodb before tracing starts would leave the driver uninstrumented, so main.ts asks once tracing runs.
 */
export function mongoUriProblem(uri: string): string | undefined {
  let client: MongoClient;
  try {
    client = new MongoClient(uri);
  } catch (error) {
    return `is not a URI the MongoDB driver accepts: ${(error as Error).message}`;
  }
  return tlsFileProblem(client.options);
}

/**
 * Refuses `uri` as the API refuses it at start (main.ts), for every entry point that connects: the seed and backup
 * commands read the same configuration, and without this check a URI the driver refuses failed them after five connect
 * retries with stack traces, without naming MONGODB_URI.
 */
export function assertMongoUri(uri: string): void {
  const problem = mongoUriProblem(uri);
  if (problem !== undefined) throw new ConfigError(`Invalid configuration: MONGODB_URI ${problem}`);
}

/**
 * The driver reads its TLS files only when it connects: a missing or unreadable one (a Secret mounted elsewhere, a
 * typo) failed each of the five connect attempts with a stack trace, 10 s and more, without naming MONGODB_URI.
 */
function tlsFileProblem(options: Record<string, unknown>): string | undefined {
  if (options.tls !== true) return undefined;
  for (const option of TLS_FILE_OPTIONS) {
    const path = options[option];
    if (typeof path !== 'string') continue;
    try {
      accessSync(path, constants.R_OK);
      if (!statSync(path).isFile()) return `has ${option}=${path}, which is not a file`;
    } catch (error) {
      return `has ${option}=${path}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
    }
  }
  return undefined;
}
