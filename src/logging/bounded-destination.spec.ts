import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { registerLogMetrics } from './log-metrics.js';
import { boundedDestination, droppedLogLines, MAX_BUFFERED_LOG_BYTES } from './root-logger.js';

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

  it('holds a bounded buffer of unwritten lines, dropping the rest and counting them on stderr and in a metric', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout'] });
    const stderr = vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    let droppedBytes = 0;
    let droppedCount = 0;
    destination.on('drop', (line: string) => {
      droppedBytes += Buffer.byteLength(line);
      droppedCount += 1;
    });
    // Request lines with 2 KB URLs, as clients can make them: about 105 MB in all.
    const line = `${JSON.stringify({ level: 30, url: `/v1/profiles?city=${'x'.repeat(2000)}` })}\n`;
    const lines = 50_000;
    for (let i = 0; i < lines; i += 1) destination.write(line);
    const burstNotes = stderr.mock.calls.map(([text]) => String(text));
    // The count at the end of the burst is told when the minute since the first note is over.
    vi.advanceTimersByTime(60_000);
    const laterNotes = stderr.mock.calls.map(([text]) => String(text)).slice(burstNotes.length);
    stderr.mockRestore();
    vi.useRealTimers();

    // What was not dropped is held, but for what the pipe took (at most its 1 MiB capacity on Linux).
    const kept = lines * Buffer.byteLength(line) - droppedBytes;
    expect(kept).toBeLessThanOrEqual(MAX_BUFFERED_LOG_BYTES + 1024 * 1024);
    // One note as the burst starts, not one per line, and one with its count a minute later.
    expect(burstNotes).toEqual(['vesta-api: stdout is not taking the log; log lines dropped so far: 1\n']);
    expect(droppedCount).toBeGreaterThan(40_000);
    expect(laterNotes).toEqual([
      `vesta-api: stdout is not taking the log; log lines dropped so far: ${droppedCount}\n`,
    ]);
    // The process's count (this is its only destination that drops) is what Prometheus reads.
    expect(droppedLogLines()).toBe(droppedCount);
    const registry = new Registry();
    registerLogMetrics(registry);
    expect((await registry.getSingleMetric('log_lines_dropped_total')!.get()).values[0].value).toBe(droppedCount);
  });
});
