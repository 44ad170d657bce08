import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAccount, type Account } from '../factories/accounts.js';
import { decodableImage } from '../factories/images.js';
import { createProfile } from '../factories/profiles.js';
import { rawRequest } from '../support/raw-http.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

// RFC 9110 §8.6: a 304 may carry Content-Length only if it equals the 200's; `0` is a wrong length that a cache
// may copy onto the response it keeps. Raw HTTP, so the headers are what went over the wire.
describe('HEAD answered 304', () => {
  let running: RunningApp;
  let member: Account;

  beforeAll(async () => {
    running = await startApp(testConfig());
    member = await registerAccount(running.url);
  });

  afterAll(() => running.close());

  /** The ETag of a GET, and checks that an unconditional HEAD gives that GET's length. */
  const etagOf = async (path: string, headers: Record<string, string> = {}) => {
    const get = await rawRequest(`${running.url}${path}`, 'GET', headers);
    expect(get.status).toBe(200);
    const head = await rawRequest(`${running.url}${path}`, 'HEAD', headers);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(get.body.length));
    return get.headers.etag!;
  };

  it('carries no Content-Length for cached JSON, as the 304 to a GET does', async () => {
    const profile = await createProfile(running.url, member, {
      location: { city: 'Lyon', country: 'FR', lat: 45.76, lng: 4.84 },
    });
    const paths = [
      `/v1/profiles/${profile.id}`,
      '/v1/locations/cities',
      '/v1/profiles/nearby?lat=45.76&lng=4.84&radiusKm=5',
    ];
    for (const path of paths) {
      const etag = await etagOf(path);
      for (const method of ['HEAD', 'GET']) {
        const answer = await rawRequest(`${running.url}${path}`, method, { 'if-none-match': etag });
        expect({ path, method, status: answer.status }).toEqual({ path, method, status: 304 });
        expect(answer.headers['content-length']).toBeUndefined();
        expect(answer.headers.etag).toBe(etag);
        expect(answer.body.length).toBe(0);
      }
    }
  });

  it('carries no Content-Length for a media file, while the 200 to a HEAD keeps the file length', async () => {
    const bytes = await decodableImage(40, 30);
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)]), 'photo.jpg');
    const uploaded = await fetch(`${running.url}/v1/media`, { method: 'POST', headers: member.auth, body: form });
    expect(uploaded.status).toBe(201);
    const { id, sha256 } = (await uploaded.json()) as { id: string; sha256: string };

    const head = await rawRequest(`${running.url}/v1/media/${id}`, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(bytes.length));
    const conditionals: Record<string, string>[] = [
      { 'if-none-match': `"${sha256}"` },
      { 'if-modified-since': head.headers['last-modified']! },
    ];
    for (const conditions of conditionals) {
      for (const method of ['HEAD', 'GET']) {
        const answer = await rawRequest(`${running.url}/v1/media/${id}`, method, conditions);
        expect({ method, status: answer.status }).toEqual({ method, status: 304 });
        expect(answer.headers['content-length']).toBeUndefined();
        expect(answer.headers.etag).toBe(`"${sha256}"`);
      }
    }
  });
});
