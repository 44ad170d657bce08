import { pino, type DestinationStream, type Logger } from 'pino';
import { loggableError } from './loggable-error.js';

/** Buffered lines are written at least this often, so a quiet instance's logs are never far behind. */
const FLUSH_INTERVAL_MS = 1_000;
/**
 * The most the buffer holds while stdout takes nothing (a stalled log collector, a full disk behind the container
 * runtime). Each request writes a line, up to about 2.5 KB with a URL the client chose, and until 2026-12-06 the buffer
 * grew with them until the process ran out of memory. Past this, lines are dropped and counted on stderr.
 */
export const MAX_BUFFERED_LOG_BYTES = 16 * 1024 * 1024;
/** How often, at most, stderr is told how many lines were dropped. */
const DROP_NOTE_INTERVAL_MS = 60_000;

/**
 * The process's one pino logger: Fastify's request logs and Nest's application logs both write
 * through it. Redaction guards objects logged by hand; request logs never include headers or bodies. Errors logged as
 * `err` keep their class, message, stack and codes, never the documents a database error quotes (loggable-error.ts).
 *
 * Writes are buffered (4 KiB or 1 s) instead of one write() per line: a synchronous write per request
 * cost about 40 % of the CPU of a cached read in the benchmark. The buffer is bounded (MAX_BUFFERED_LOG_BYTES) and
 * flushed synchronously when the process exits, so graceful shutdowns and process.exit() lose nothing; a hard crash
 * (SIGKILL, OOM kill) can lose up to a second of lines.
 */
export function createRootLogger(level: string, destination: DestinationStream = stdout()): Logger {
  return pino(
    {
      level,
      base: { service: 'vesta-api' },
      serializers: { err: loggableError },
      redact: {
        // Paths are matched as written: `Authorization` is not `authorization`. Headers go whole, top level or one down.
        // Each wildcard path walks every logged object's keys, a request line's included: two more (`*.cookie`,
        // `*.Authorization`) cost about 2.5 µs a line, 30 % of its formatting; a header one level down goes with its
        // `headers` anyway.
        paths: [
          'password',
          '*.password',
          'accessToken',
          '*.accessToken',
          'authorization',
          '*.authorization',
          'Authorization',
          'cookie',
          'headers',
          '*.headers',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

let shared: ReturnType<typeof pino.destination> | undefined;

/** One buffered stdout per process (tests boot many apps in one process), with its flush timer and exit hook. */
function stdout(): ReturnType<typeof pino.destination> {
  if (shared) return shared;
  const destination = boundedDestination(1);
  setInterval(() => destination.flush(), FLUSH_INTERVAL_MS).unref();
  process.once('exit', () => destination.flushSync());
  shared = destination;
  return destination;
}

let droppedLines = 0;

/** Log lines dropped by this process so far (all bounded destinations): log_lines_dropped_total. */
export function droppedLogLines(): number {
  return droppedLines;
}

/**
 * Lines buffered for `fd` (4 KiB at a time), at most MAX_BUFFERED_LOG_BYTES of them; those beyond are dropped. The first
 * drop is told on stderr at once, later ones at the end of each DROP_NOTE_INTERVAL_MS that had any, so the last count
 * of an episode is told within a minute (until 2026-12-06 only when another drop came after the minute).
 */
export function boundedDestination(fd: number): ReturnType<typeof pino.destination> {
  const destination = pino.destination({ dest: fd, sync: false, minLength: 4096, maxLength: MAX_BUFFERED_LOG_BYTES });
  let notedAt = -Infinity;
  let pendingNote: NodeJS.Timeout | undefined;
  const note = () => {
    pendingNote = undefined;
    notedAt = Date.now();
    process.stderr.write(`vesta-api: stdout is not taking the log; log lines dropped so far: ${droppedLines}\n`);
  };
  destination.on('drop', () => {
    droppedLines += 1;
    if (pendingNote) return;
    const wait = notedAt + DROP_NOTE_INTERVAL_MS - Date.now();
    if (wait <= 0) note();
    else pendingNote = setTimeout(note, wait).unref();
  });
  return destination;
}
