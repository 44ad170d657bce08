import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { boundedDestination, MAX_BUFFERED_LOG_BYTES } from './root-logger.js';

/** stdout as a pipe nobody reads (a stalled log collector): a FIFO whose read end is open but never read. */
const fifo = join(mkdtempSync(join(tmpdir(), 'vesta-log-')), 'stdout');
execFileSync('mkfifo', [fifo]);
const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
const writeEnd = openSync(fifo, constants.O_WRONLY);

describe('the log destination while stdout takes nothing', () => {
  const destination = boundedDestination(writeEnd);

  afterAll(() => {
    // Its buffered lines fail once the pipe closes under them: of no interest here.
    destination.on('error', () => undefined);
    destination.destroy();
    closeSync(readEnd);
  });

  it('holds a bounded buffer of unwritten lines, dropping the rest and saying so on stderr', () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    let droppedBytes = 0;
    destination.on('drop', (line: string) => (droppedBytes += Buffer.byteLength(line)));
    // Request lines with 2 KB URLs, as clients can make them: about 105 MB in all.
    const line = `${JSON.stringify({ level: 30, url: `/v1/profiles?city=${'x'.repeat(2000)}` })}\n`;
    const lines = 50_000;
    for (let i = 0; i < lines; i += 1) destination.write(line);
    const notes = stderr.mock.calls.map(([text]) => String(text));
    stderr.mockRestore();

    // What was not dropped is held, but for what the pipe took (at most its 1 MiB capacity on Linux).
    const kept = lines * Buffer.byteLength(line) - droppedBytes;
    expect(kept).toBeLessThanOrEqual(MAX_BUFFERED_LOG_BYTES + 1024 * 1024);
    // One note for the whole burst, not one per line.
    expect(notes).toEqual(['vesta-api: stdout is not taking the log; log lines dropped so far: 1\n']);
  });
});
