import { Redis } from 'ioredis';
import { eventually } from './cache-instance.js';
import { RedisProcess } from './redis-process.js';
import { tcpRelay } from './tcp-stand-ins.js';

const linkUp = async (replica: Redis) => /master_link_status:up/.test(await replica.info('replication'));

/**
 * A primary and its replica, two real redis-servers, behind one stable address (`url`) as a managed Redis' endpoint
 * name is. `failOver()` promotes the replica, makes the old primary its replica and points the address at the new
 * one: connections made after that reach the new primary, those made before stay on the old one, which Redis keeps
 * open and which now answers reads and refuses writes with READONLY. `stop()` ends all of it.
 */
export async function replicatedRedis() {
  const [first, second] = [await RedisProcess.start(), await RedisProcess.start()];
  const [adminFirst, adminSecond] = [new Redis(first.url), new Redis(second.url)];
  let primary = first;
  const relay = await tcpRelay(
    () => new URL(primary.url),
    (client, upstream) => void client.pipe(upstream).pipe(client),
  );
  const stop = async () => {
    await relay.close();
    adminFirst.disconnect();
    adminSecond.disconnect();
    await Promise.all([first.stop(), second.stop()]);
  };
  try {
    // A full sync otherwise waits repl-diskless-sync-delay (5 s) for more replicas, as long as linkUp's wait: flaky.
    for (const admin of [adminFirst, adminSecond]) await admin.config('SET', 'repl-diskless-sync-delay', '0');
    await adminSecond.replicaof('127.0.0.1', first.port);
    await eventually(() => linkUp(adminSecond), 5_000);
  } catch (error) {
    // Left running, the servers would outlive the test run.
    await stop();
    throw error;
  }
  return {
    url: `redis://127.0.0.1:${relay.port}`,
    failOver: async () => {
      await adminSecond.replicaof('NO', 'ONE');
      await adminFirst.replicaof('127.0.0.1', second.port);
      await eventually(() => linkUp(adminFirst), 5_000);
      primary = second;
    },
    stop,
  };
}
