import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * SIGSTOPs a server and waits until the kernel reports it stopped (delivery is asynchronous): a server that
 * keeps its connections open and accepts new ones, but answers nothing.
 */
export async function freezeProcess(child: ChildProcess | undefined, name: string): Promise<void> {
  const pid = child?.pid;
  if (!pid) throw new Error(`${name} is not running`);
  child.kill('SIGSTOP');
  const deadline = Date.now() + 5_000;
  while (!/^State:\s+T/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) {
    if (Date.now() > deadline) throw new Error(`${name} did not stop after SIGSTOP`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
