import type { Redis } from 'ioredis';
import { withTimeout } from '../common/with-timeout.js';

/**
 * A ping of a connection that looks ready. A connection can die without closing: Redis moved (a failover, a pod on
 * another node) while the packets of the old connection are dropped, or a NAT or conntrack entry forgot it, and TCP
 * notices only once its retransmissions give up, about 15 minutes later, while a new connection would be answered at
 * once. So at the second missed ping in a row on a connection that still looks ready, `onSilent` is told and the
 * connection dropped, for ioredis to make anew (its owners handle that as any reconnect). Two, so that one slow second
 * of Redis does not make every instance reconnect at once; they count from the last (re)connect. `timeoutMs` is read at
 * each ping when it is a function (a connection whose answers may wait behind a blocking command).
 */
export function silenceCheck(
  client: Redis,
  timeoutMs: number | (() => number),
  onSilent: (error: Error) => void,
): () => Promise<void> {
  let missed = 0;
  client.on('ready', () => (missed = 0));
  return async () => {
    try {
      await withTimeout(client.ping(), typeof timeoutMs === 'number' ? timeoutMs : timeoutMs());
      missed = 0;
    } catch (error) {
      missed += 1;
      // The connection may have been replaced meanwhile: only a live one that stays silent is dropped.
      if (missed < 2 || client.status !== 'ready') return;
      missed = 0;
      onSilent(error as Error);
      client.disconnect(true);
    }
  };
}
