import { connect, createServer, type Socket } from 'node:net';
import { MongoClient, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAccount } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { secondInvalidationsDone } from '../support/invalidations.js';
import { freePort } from '../support/ports.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig, workerMongoUri } from '../support/test-env.js';

/**
 * A relay to the test MongoDB that, once armed, keeps back the first command naming every one of `markers` and sends
 * it on only at `deliver()`, even when its client has given up and closed the connection meanwhile: what a frozen
 * FerretDB does with a command already in its socket buffer (it runs it once it is thawed, after the driver's socket
 * timeout closed the connection), and a server that is slow to get to one write.
 */
async function lateDeliveryProxy(mongoUri: string, ...markers: string[]) {
  const needles = markers.map((marker) => Buffer.from(marker));
  const target = new URL(mongoUri);
  let armed = false;
  let held: { upstream: Socket; message: Buffer } | undefined;
  let onHeld = () => {};
  const heldNow = new Promise<void>((resolve) => (onHeld = resolve));
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.push(client, upstream);
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= pending.readInt32LE(0)) {
        const message = pending.subarray(0, pending.readInt32LE(0));
        pending = pending.subarray(message.length);
        if (armed && !held && needles.every((needle) => message.includes(needle))) {
          held = { upstream, message };
          onHeld();
        } else upstream.write(message);
      }
    });
    upstream.on('data', (chunk: Buffer) => void (client.destroyed || client.write(chunk)));
    client.on('error', () => undefined).on('close', () => held?.upstream === upstream || upstream.destroy());
    upstream.on('error', () => undefined).on('close', () => client.destroy());
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const uri = new URL(mongoUri);
  uri.host = `127.0.0.1:${port}`;
  return {
    uri: uri.toString(),
    arm: () => void (armed = true),
    heldNow,
    deliver: () => held?.upstream.write(held.message),
    close: async () => {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('a profile update that lands after its request failed', () => {
  let proxy: Awaited<ReturnType<typeof lateDeliveryProxy>>;
  let running: RunningApp;
  let mongo: MongoClient;

  beforeAll(async () => {
    proxy = await lateDeliveryProxy(workerMongoUri(), 'findAndModify', 'profiles');
    // The driver gives up on the held command after 1.5 s; the request's deadline comes later.
    running = await startApp(
      testConfig({ MONGODB_URI: proxy.uri, MONGODB_SOCKET_TIMEOUT_MS: '1500', HANDLER_TIMEOUT_MS: '5000' }),
    );
    mongo = await MongoClient.connect(workerMongoUri());
  });

  afterAll(async () => {
    await running?.close();
    await proxy?.close();
    await mongo?.close();
  });

  it('is shown once it has landed, not the profile from before it', async () => {
    const owner = await registerAccount(running.url);
    const profile = await createProfile(running.url, owner, { bio: 'before' });
    await secondInvalidationsDone();
    const bio = async () =>
      ((await (await fetch(`${running.url}/v1/profiles/${profile.id}`)).json()) as { bio: string }).bio;
    expect(await bio()).toBe('before');

    proxy.arm();
    const update = fetch(`${running.url}/v1/profiles/${profile.id}`, {
      method: 'PATCH',
      headers: { ...owner.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ bio: 'after' }),
    });
    await proxy.heldNow;
    // The driver gave up on it: the write's outcome is unknown, and the client is told to retry.
    expect((await update).status).toBe(503);
    // Not applied yet: the old profile is what the database holds, and what a reader gets (and the cache keeps, once
    // the eviction's second pass has run).
    await secondInvalidationsDone();
    expect(await bio()).toBe('before');

    proxy.deliver();
    const profiles = mongo.db().collection<{ bio: string }>('profiles');
    const stored = async () => (await profiles.findOne({ _id: new ObjectId(profile.id) }))?.bio;
    await expect.poll(stored, { timeout: 5_000 }).toBe('after');

    // The database answers again and holds the update: readers get it, not the profile from before for the TTL (300 s).
    await expect.poll(bio, { timeout: 5_000, interval: 250 }).toBe('after');
    await fetch(`${running.url}/v1/profiles/${profile.id}`, { method: 'DELETE', headers: owner.auth });
  });
});
