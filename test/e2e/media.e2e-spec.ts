import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Connection } from 'mongoose';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerAccount, uniqueEmail, type Account } from '../factories/accounts.js';
import { gifWithFrame, pngStructure } from '../factories/images.js';
import { MediaQuota } from '../../src/media/media-quota.js';
import { MediaStorage } from '../../src/media/media.storage.js';
import { rawRequest } from '../support/raw-http.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

const png = (size: number) => pngStructure(size);
// Start of image, a quantization table, a frame header (1×1), a scan (SOS) and the end of image: stored byte for byte.
// The scan's data has no 0xFF: the walk goes on through every scan since 2026-12-06, and in random bytes a 0xFF ended
// the scan as a marker would, so a random EOI or comment marker after it cut or changed the file (8 of 40 such files
// came out changed, 0 of 40 now).
const JPEG_HEAD = Buffer.concat([
  Buffer.from('ffd8ffdb004300', 'hex'),
  Buffer.alloc(64, 1),
  Buffer.from('ffc0000b080001000101011100ffda', 'hex'),
]);
const scanData = (size: number) => randomBytes(size).map((byte) => (byte === 0xff ? 0xfe : byte));
const jpeg = (size: number) => Buffer.concat([JPEG_HEAD, scanData(size), Buffer.from('ffd9', 'hex')]);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Files and chunks of everyone (chunks carry no owner): a refused upload must leave both as they were. */
const storedFilesAndChunks = (connection: Connection) =>
  Promise.all(['media.files', 'media.chunks'].map((name) => connection.collection(name).countDocuments()));

describe('media (GridFS)', () => {
  let running: RunningApp;
  let url: string;
  let owner: Account;
  let connection: Connection;

  beforeAll(async () => {
    // Production's download lifetime; outside production it is 0.
    running = await startApp(testConfig({ MEDIA_MAX_BYTES: String(1024 * 1024), MEDIA_CACHE_MAX_AGE_S: '2592000' }));
    url = running.url;
    owner = await registerAccount(url);
    connection = running.app.get<Connection>(getConnectionToken());
  });

  afterAll(async () => {
    await running.close();
  });

  const upload = async (account: Account, bytes: Buffer, name = 'photo.png', type = 'image/png') => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)], { type }), name);
    return fetch(`${url}/v1/media`, { method: 'POST', headers: account.auth, body: form });
  };
  const uploaded = async (bytes: Buffer) => {
    const response = await upload(owner, bytes);
    expect(response.status).toBe(201);
    const media = (await response.json()) as { id: string; sha256: string; length: number; contentType: string };
    expect(response.headers.get('location')).toBe(`/v1/media/${media.id}`);
    return media;
  };
  const download = (id: string, headers: Record<string, string> = {}, method = 'GET') =>
    fetch(`${url}/v1/media/${id}`, { method, headers });
  /** Reads the body too: an unread download keeps its connection (and the app's close) busy. */
  const statusOf = async (id: string, headers: Record<string, string> = {}) => {
    const response = await download(id, headers);
    await response.arrayBuffer();
    return response.status;
  };

  it('round-trips a small and a multi-chunk file byte for byte, with the type sniffed from the bytes', async () => {
    for (const [bytes, type] of [
      [png(100), 'image/png'],
      [jpeg(900_000), 'image/jpeg'],
    ] as const) {
      const media = await uploaded(bytes);
      expect(media.contentType).toBe(type);
      expect(media.sha256).toBe(sha256(bytes));
      expect(media.length).toBe(bytes.length);
      const response = await download(media.id);
      expect(response.status).toBe(200);
      const body = Buffer.from(await response.arrayBuffer());
      expect(sha256(body)).toBe(sha256(bytes));
      expect(response.headers.get('content-type')).toBe(type);
      expect(response.headers.get('content-length')).toBe(String(bytes.length));
      expect(response.headers.get('etag')).toBe(`"${media.sha256}"`);
      expect(response.headers.get('cache-control')).toBe('public, max-age=2592000, immutable');
      expect(response.headers.get('accept-ranges')).toBe('bytes');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    }
  });

  it('stores a photo without its GPS position or other metadata, keeping its orientation, for anyone to download', async () => {
    const photo = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c33' } })
      .jpeg()
      .withExif({ IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '52/1 31/1 12/1', GPSLongitudeRef: 'E' } })
      .withMetadata({ orientation: 6 })
      .withXmp('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>')
      .toBuffer();
    const media = await uploaded(photo);
    const response = await download(media.id);
    const body = Buffer.from(await response.arrayBuffer());
    expect(body.length).toBeLessThan(photo.length);
    const metadata = await sharp(body).metadata();
    expect(metadata.orientation).toBe(6);
    expect(metadata.xmp).toBeUndefined();
    // Exif header, TIFF header, IFD0 with one entry (the orientation, 0x0112) and no next IFD: no GPS IFD.
    expect(metadata.exif?.toString('hex')).toBe(
      '457869660000' + '4d4d002a00000008' + '0001' + '011200030000000100060000' + '00000000',
    );
    expect([media.length, media.sha256]).toEqual([body.length, sha256(body)]);
    expect(response.headers.get('content-length')).toBe(String(body.length));
    expect(response.headers.get('etag')).toBe(`"${sha256(body)}"`);
    const tail = await download(media.id, { range: 'bytes=-2' });
    expect(tail.headers.get('content-range')).toBe(`bytes ${body.length - 2}-${body.length - 1}/${body.length}`);
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(body.subarray(-2));
  });

  it('stores a GIF without its comments, its XMP (GPS included) or what follows its end', async () => {
    const frame = gifWithFrame(1, 1);
    const comment = Buffer.from([0x21, 0xfe, 3, 0x61, 0x62, 0x63, 0]); // the factory's "abc"
    const at = frame.indexOf(comment);
    const xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description exif:GPSLatitude="52,31.2N"/></x:xmpmeta>';
    // XMP as the XMP specification embeds it in a GIF: raw, then a "magic trailer" for readers walking sub-blocks.
    const magicTrailer = Buffer.from([1, ...Array.from({ length: 256 }, (_, i) => 255 - i), 0]);
    const gif = Buffer.concat([
      frame.subarray(0, at + comment.length),
      Buffer.from([0x21, 0xff, 11]),
      Buffer.from(`XMP DataXMP${xmp}`),
      magicTrailer,
      frame.subarray(at + comment.length),
      Buffer.from('GPS 52.52 13.40'),
    ]);
    const media = await uploaded(gif);
    expect(media.contentType).toBe('image/gif');
    const body = Buffer.from(await (await download(media.id)).arrayBuffer());
    expect(body).toEqual(Buffer.concat([frame.subarray(0, at), frame.subarray(at + comment.length)]));
    expect([media.length, media.sha256]).toEqual([body.length, sha256(body)]);
  });

  it('serves single ranges (first byte, last byte, suffix, open end), honours If-Range, and 416 past the end', async () => {
    const bytes = png(600_000);
    const { id } = await uploaded(bytes);
    const size = bytes.length;
    const cases: [string, number, number][] = [
      ['bytes=0-0', 0, 0],
      [`bytes=${size - 1}-${size - 1}`, size - 1, size - 1],
      ['bytes=-500', size - 500, size - 1],
      ['bytes=261000-262200', 261_000, 262_200],
      [`bytes=${size - 10}-`, size - 10, size - 1],
    ];
    for (const [range, start, end] of cases) {
      const response = await download(id, { range });
      expect(response.status, range).toBe(206);
      expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/${size}`);
      expect(Buffer.from(await response.arrayBuffer()).equals(bytes.subarray(start, end + 1)), range).toBe(true);
    }
    // If-Range: the range holds for this file's strong tag; for another tag, or a date, the whole file comes (200).
    const lastModified = (await download(id, {}, 'HEAD')).headers.get('last-modified')!;
    for (const [ifRange, status] of [
      [`"${sha256(bytes)}"`, 206],
      [lastModified, 200],
      ['"another-file"', 200],
      ['W/"' + sha256(bytes) + '"', 200],
    ] as const) {
      const response = await download(id, { range: 'bytes=0-9', 'if-range': ifRange });
      expect(response.status, ifRange).toBe(status);
      expect((await response.arrayBuffer()).byteLength).toBe(status === 206 ? 10 : size);
    }
    const past = await download(id, { range: `bytes=${size}-` });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${size}`);
    expect(past.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(past.headers.get('cache-control')).toBe('no-store'); // an error, not the file: nothing to keep
    expect(((await past.json()) as { status: number }).status).toBe(416);
  });

  it('sends a file of no known type as stored, never gzipped: its ETag and ranges are of those bytes', async () => {
    // Compressible repeated bytes; a record without a content type (an old backup, a hand edit) is served as
    // application/octet-stream, a type @fastify/compress would gzip.
    const bytes = pngStructure(20_000, 0x41);
    const { id } = await uploaded(bytes);
    await connection
      .collection('media.files')
      .updateOne({ _id: new Types.ObjectId(id) }, { $unset: { 'metadata.contentType': '' } });
    const offered = { 'accept-encoding': 'gzip, br' };
    const whole = await rawRequest(`${url}/v1/media/${id}`, 'GET', offered);
    expect(whole.headers['content-type']).toBe('application/octet-stream');
    expect(whole.headers['content-encoding']).toBeUndefined();
    expect(whole.headers['content-length']).toBe(String(bytes.length));
    expect(whole.body.equals(bytes)).toBe(true);
    // A download cut short resumes where it stopped, under the ETag it started with.
    const rest = await rawRequest(`${url}/v1/media/${id}`, 'GET', {
      ...offered,
      range: 'bytes=100-',
      'if-range': String(whole.headers.etag),
    });
    expect(rest.status).toBe(206);
    expect(Buffer.concat([whole.body.subarray(0, 100), rest.body]).equals(bytes)).toBe(true);
    expect((await fetch(`${url}/v1/media/${id}`, { method: 'DELETE', headers: owner.auth })).status).toBe(204);
  });

  it('answers a file whose chunks hold less than its record says with a 404 problem, before any byte, for any range', async () => {
    const chunks = connection.collection('media.chunks');
    const lastChunkCutTo = (bytes: number) => async (id: Types.ObjectId) => {
      const last = (await chunks.findOne({ files_id: id, n: 2 }))!;
      const data = (last.data as { buffer: Uint8Array }).buffer;
      await chunks.updateOne({ _id: last._id }, { $set: { data: Buffer.from(data.subarray(0, bytes)) } });
    };
    // Three chunks each (255 KiB): a restore cut short, or a hand edit, leaves such records.
    const damages: [string, (id: Types.ObjectId) => Promise<unknown>][] = [
      ['its last chunk missing', (id) => chunks.deleteOne({ files_id: id, n: 2 })],
      ['a chunk missing in the middle', (id) => chunks.deleteOne({ files_id: id, n: 1 })],
      ['its last chunk cut short', lastChunkCutTo(100)],
      [
        'a length past its chunks',
        (id) => connection.collection('media.files').updateOne({ _id: id }, { $inc: { length: 1 } }),
      ],
    ];
    const storage = running.app.get(MediaStorage);
    const ids: string[] = [];
    try {
      for (const [damage, apply] of damages) {
        const { id, sha256: hash } = await uploaded(png(600_000));
        ids.push(id);
        await apply(new Types.ObjectId(id));
        for (const [method, headers] of [
          ['GET', {}],
          ['HEAD', {}],
          ['GET', { range: 'bytes=0-9' }],
          ['GET', { range: 'bytes=-10' }],
          ['GET', { range: 'bytes=300000-300009' }],
          ['GET', { 'if-none-match': `"${hash}"` }],
        ] as const) {
          const said = `${damage}: ${method} ${JSON.stringify(headers)}`;
          // Read whole: a cut connection rejects here (it answered 200 and was cut until 2026-12-07).
          const response = await download(id, headers, method);
          const body = await response.text();
          expect(response.status, said).toBe(404);
          expect(response.headers.get('content-type'), said).toMatch(/^application\/problem\+json/);
          if (method === 'GET') expect((JSON.parse(body) as { detail: string }).detail, said).toMatch(/incomplete/);
        }
      }
    } finally {
      for (const id of ids) await storage.remove(new Types.ObjectId(id));
    }
  });

  it('closes a download at a chunk of the wrong size: nothing past its Content-Length, no client left waiting', async () => {
    const chunks = connection.collection('media.chunks');
    /** Two requests on one keep-alive connection, the damaged file first: all that came back until it closed. */
    const pipelined = (first: string, second: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(Number(new URL(url).port), '127.0.0.1');
        let received = Buffer.alloc(0);
        // Far below the 65 s an idle keep-alive connection is kept, far above a local download of 600 KB.
        const timer = setTimeout(() => socket.destroy(), 10_000);
        socket.on('data', (data: Buffer) => (received = Buffer.concat([received, data])));
        socket.on('error', () => undefined);
        socket.on('close', () => {
          clearTimeout(timer);
          resolve(received.toString('latin1'));
        });
        socket.write(
          `GET /v1/media/${first} HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/media/${second} HTTP/1.1\r\nHost: x\r\n\r\n`,
        );
      });
    const { id: healthy } = await uploaded(png(100));
    const ids = [healthy];
    try {
      for (const [damage, resize] of [
        [
          'longer',
          (data: Uint8Array) => Buffer.concat([data, Buffer.from('HTTP/1.1 200 OK\r\nX-Injected: 1\r\n\r\n')]),
        ],
        ['shorter', (data: Uint8Array) => Buffer.from(data.subarray(0, 1000))],
      ] as const) {
        const { id } = await uploaded(png(600_000));
        ids.push(id);
        const middle = (await chunks.findOne({ files_id: new Types.ObjectId(id), n: 1 }))!;
        const data = resize((middle.data as { buffer: Uint8Array }).buffer);
        await chunks.updateOne({ _id: middle._id }, { $set: { data } });

        const started = Date.now();
        const text = await pipelined(id, healthy);
        const head = text.slice(0, text.indexOf('\r\n\r\n'));
        const declared = Number(/content-length: (\d+)/i.exec(head)?.[1]);
        const body = text.length - head.length - 4;
        // Cut by the server, after fewer bytes than declared: not padded out, not read on into the next answer.
        expect(head.startsWith('HTTP/1.1 200'), damage).toBe(true);
        expect(body, damage).toBeLessThan(declared);
        expect(text.match(/HTTP\/1\.1 \d{3}/g), damage).toHaveLength(1);
        expect(Date.now() - started, `${damage}: the server closed the connection`).toBeLessThan(10_000);
      }
    } finally {
      for (const id of ids) await running.app.get(MediaStorage).remove(new Types.ObjectId(id));
    }
  });

  it('answers 304 to a matching If-None-Match or a later If-Modified-Since, and HEAD without a body', async () => {
    const { id, sha256: hash } = await uploaded(png(50));
    expect(await statusOf(id, { 'if-none-match': `"${hash}"` })).toBe(304);
    const first = await download(id);
    await first.arrayBuffer();
    const lastModified = first.headers.get('last-modified')!;
    expect(await statusOf(id, { 'if-modified-since': lastModified })).toBe(304);
    expect(await statusOf(id, { 'if-none-match': '"other"', 'if-modified-since': lastModified })).toBe(200);
    // No HTTP-date, so no condition: Date.parse would read the first as 1 January 2100, after the file was stored.
    expect(await statusOf(id, { 'if-modified-since': '2100' })).toBe(200);
    expect(await statusOf(id, { 'if-modified-since': lastModified.replace(' GMT', '') })).toBe(200);
    const head = await download(id, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(png(50).length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('answers 412, sending nothing, when If-Match or If-Unmodified-Since fails (a resumed download of another file)', async () => {
    const bytes = png(1000);
    const { id, sha256: hash } = await uploaded(bytes);
    const first = await download(id);
    await first.arrayBuffer();
    const lastModified = new Date(first.headers.get('last-modified')!);
    const before = new Date(lastModified.getTime() - 1000).toUTCString();
    // If-Match compares strongly: a weak tag never matches.
    const refusals: Record<string, string>[] = [
      { 'if-match': '"other"' },
      { 'if-match': `W/"${hash}"` },
      { 'if-unmodified-since': before },
    ];
    for (const headers of refusals) {
      const refused = await download(id, { ...headers, range: 'bytes=0-9' });
      expect(refused.status, JSON.stringify(headers)).toBe(412);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refused.headers.get('content-range')).toBeNull();
      await refused.arrayBuffer();
    }
    const passes: Record<string, string>[] = [
      { 'if-match': `"other", "${hash}"` },
      { 'if-match': '*' },
      { 'if-unmodified-since': lastModified.toUTCString() },
      { 'if-unmodified-since': 'not a date' },
    ];
    for (const headers of passes) {
      const resumed = await download(id, { ...headers, range: 'bytes=0-9' });
      expect(resumed.status, JSON.stringify(headers)).toBe(206);
      expect(Buffer.from(await resumed.arrayBuffer())).toEqual(bytes.subarray(0, 10));
    }
  });

  it('answers an image sent as the raw body, not as a form, with a 415 that says how to upload', async () => {
    const before = await connection.collection('media.files').countDocuments();
    const response = await fetch(`${url}/v1/media`, {
      method: 'POST',
      headers: { ...owner.auth, 'content-type': 'image/png' },
      body: new Uint8Array(png(50)),
    });
    expect(response.status).toBe(415);
    expect(((await response.json()) as { detail: string }).detail).toBe(
      'Uploads are multipart/form-data with the file in the field "file", not image/png',
    );
    // JSON has a parser of its own, so it reached the route: a photo sent in base64 was told that the route takes no
    // body (400), and `{}` to send a form (400).
    for (const body of [{ file: png(50).toString('base64') }, {}]) {
      const json = await fetch(`${url}/v1/media`, {
        method: 'POST',
        headers: { ...owner.auth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(json.status, JSON.stringify(body).slice(0, 20)).toBe(415);
      expect(json.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await json.json()) as { detail: string }).detail).toBe(
        'Uploads are multipart/form-data with the file in the field "file", not application/json',
      );
    }
    expect(await connection.collection('media.files').countDocuments()).toBe(before);
  });

  it('rejects spoofed types (HTML or SVG named .png) with 415 and stores nothing', async () => {
    const before = await connection.collection('media.files').countDocuments();
    const html = Buffer.from('<!doctype html><html><script>alert(1)</script></html>');
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    for (const bytes of [html, svg]) {
      const response = await upload(owner, bytes, 'innocent.png', 'image/png');
      expect(response.status).toBe(415);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect(await connection.collection('media.files').countDocuments()).toBe(before);
  });

  it('answers 415, not 500, to a PNG signature cut off before its first chunk header, and stores nothing', async () => {
    const before = await connection.collection('media.files').countDocuments();
    for (const hex of ['89504e470d0a1a0a', '89504e470d0a1a0a00000010']) {
      const response = await upload(owner, Buffer.from(hex, 'hex'));
      expect(response.status, hex).toBe(415);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect(await connection.collection('media.files').countDocuments()).toBe(before);
  });

  it('refuses an image of 60 megapixels in a few hundred KB (a decompression bomb) with 422, storing nothing', async () => {
    const before = await connection.collection('media.files').countDocuments();
    // What the variants job could never decode, and every app showing the photo would try to: 240 MB of pixels.
    const bomb = await sharp({
      create: { width: 10_000, height: 6_000, channels: 4, background: '#000000' },
      limitInputPixels: false,
    })
      .png({ compressionLevel: 9 })
      .toBuffer();
    const response = await upload(owner, bomb);
    expect(response.status).toBe(422);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await response.json()) as { detail: string }).detail).toBe(
      'The image is 10000 × 6000 pixels; at most 50 megapixels are accepted',
    );
    expect(await connection.collection('media.files').countDocuments()).toBe(before);
  });

  it('refuses a GIF whose first frame outgrows its 1 × 1 screen to 64 megapixels with 422, storing nothing', async () => {
    const before = await storedFilesAndChunks(connection);
    const bomb = gifWithFrame(8000, 8000);
    const response = await upload(owner, bomb, 'bomb.gif', 'image/gif');
    expect(response.status).toBe(422);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await response.json()) as { detail: string }).detail).toBe(
      'The image is 8000 × 8000 pixels; at most 50 megapixels are accepted',
    );
    expect(await storedFilesAndChunks(connection)).toEqual(before);
  });

  it('refuses a JPEG of 60 megapixels whose frame header follows a fill byte, with 422, storing nothing', async () => {
    const before = await storedFilesAndChunks(connection);
    const photo = await sharp({
      create: { width: 10_000, height: 6_000, channels: 3, background: '#000000' },
      limitInputPixels: false,
    })
      .jpeg({ quality: 10 })
      .toBuffer();
    const frameAt = photo.indexOf(Buffer.from('ffc0', 'hex'));
    const frameEnd = frameAt + 2 + photo.readUInt16BE(frameAt + 2);
    // A fill byte (0xff) before the frame header, which decoders skip. image-size read it as a marker and went on out of
    // step, taking the frame header's first bytes (c0 00) for the length of a segment 49152 bytes long: where that
    // "segment" ended, inside an APP15 segment decoders skip, it found a 1 × 1 frame header.
    const hiddenAt = frameAt + 1 + 0xc000;
    const app15 = Buffer.alloc(hiddenAt - frameEnd + 32);
    app15.writeUInt16BE(0xffef, 0);
    app15.writeUInt16BE(app15.length - 2, 2);
    const oneByOne = Buffer.from(photo.subarray(frameAt, frameEnd));
    oneByOne.writeUInt16BE(1, 5);
    oneByOne.writeUInt16BE(1, 7);
    oneByOne.copy(app15, hiddenAt - frameEnd);
    const bomb = Buffer.concat([
      photo.subarray(0, frameAt),
      Buffer.from([0xff]),
      photo.subarray(frameAt, frameEnd),
      app15,
      photo.subarray(frameEnd),
    ]);
    expect(await sharp(bomb, { limitInputPixels: false }).metadata()).toMatchObject({ width: 10_000, height: 6_000 });
    const response = await upload(owner, bomb, 'bomb.jpg', 'image/jpeg');
    expect(response.status).toBe(422);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await response.json()) as { detail: string }).detail).toBe(
      'The image is 10000 × 6000 pixels; at most 50 megapixels are accepted',
    );
    expect(await storedFilesAndChunks(connection)).toEqual(before);
  });

  it('keeps nothing of an upload whose client closed the connection after its last byte, before the answer', async () => {
    const member = await registerAccount(url);
    const quota = running.app.get(MediaQuota);
    const assertKept = quota.assertKept.bind(quota);
    const body = Buffer.concat([
      Buffer.from(
        '--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n',
      ),
      png(5_000),
      Buffer.from('\r\n--b--\r\n'),
    ]);
    const before = await storedFilesAndChunks(connection);
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.on('error', () => undefined);
    // The client goes while the server checks the quota, after the last byte (a phone cancelling at "100 %").
    vi.spyOn(quota, 'assertKept').mockImplementationOnce(async (...args) => {
      socket.destroy();
      await sleep(200); // for the server to see the connection close
      return assertKept(...args);
    });
    socket.write(
      `POST /v1/media HTTP/1.1\r\nHost: x\r\nAuthorization: ${member.auth.authorization}\r\n` +
        `Content-Type: multipart/form-data; boundary=b\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    socket.write(body);
    try {
      await expect.poll(() => vi.mocked(quota.assertKept).mock.calls.length, { timeout: 5_000 }).toBe(1);
      await sleep(1_000);
      const files = connection.collection('media.files');
      expect(await files.countDocuments({ 'metadata.ownerId': member.userId })).toBe(0);
      expect(await storedFilesAndChunks(connection)).toEqual(before);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('keeps nothing of an upload whose record could not be read back for the answer', async () => {
    const member = await registerAccount(url);
    const storage = running.app.get(MediaStorage);
    const before = await storedFilesAndChunks(connection);
    vi.spyOn(storage, 'find').mockRejectedValueOnce(new Error('connection reset while reading the record'));
    try {
      const response = await upload(member, png(1_000));
      expect(response.status).toBe(500);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const files = connection.collection('media.files');
      expect(await files.countDocuments({ 'metadata.ownerId': member.userId })).toBe(0);
      expect(await storedFilesAndChunks(connection)).toEqual(before);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('answers malformed multipart bodies with a 400 problem and keeps nothing of them', async () => {
    const before = await storedFilesAndChunks(connection);
    const part = (bytes: Buffer) =>
      Buffer.concat([
        Buffer.from('--B\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'),
        Buffer.from('Content-Type: image/png\r\n\r\n'),
        bytes,
      ]);
    const cases: [string, Buffer][] = [
      ['multipart/form-data', part(png(100))], // no boundary
      ['multipart/form-data; boundary=OTHER', part(png(100))], // a boundary the body never uses
      ['multipart/form-data; boundary=B', part(png(100))], // ends before its closing boundary
      ['multipart/form-data; boundary=B', part(png(300_000))], // the same, past the header read, while storing
    ];
    for (const [contentType, body] of cases) {
      const response = await fetch(`${url}/v1/media`, {
        method: 'POST',
        headers: { ...owner.auth, 'content-type': contentType },
        body: new Uint8Array(body),
      });
      expect(response.status, contentType).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect(await storedFilesAndChunks(connection)).toEqual(before);
  });

  it('refuses a compressed upload at once with a 415 naming the coding it takes, and keeps nothing of it', async () => {
    const before = await storedFilesAndChunks(connection);
    const form = (bytes: Buffer) =>
      Buffer.concat([
        Buffer.from('--B\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'),
        Buffer.from('Content-Type: image/png\r\n\r\n'),
        bytes,
        Buffer.from('\r\n--B--\r\n'),
      ]);
    // The small one was answered "closed before its body was read" (400); the larger one waited for the upload's
    // deadline (503 after 40 s), the multipart parser and the request decompression both reading the one body.
    for (const bytes of [png(100), png(300_000)]) {
      const response = await fetch(`${url}/v1/media`, {
        method: 'POST',
        headers: { ...owner.auth, 'content-type': 'multipart/form-data; boundary=B', 'content-encoding': 'gzip' },
        body: new Uint8Array(gzipSync(form(bytes))),
        signal: AbortSignal.timeout(10_000),
      });
      expect(response.status, `${bytes.length} bytes`).toBe(415);
      expect(response.headers.get('accept-encoding')).toBe('identity');
      expect(((await response.json()) as { detail: string }).detail).toBe(
        'Uploads are sent without a Content-Encoding, not gzip',
      );
    }
    expect(await storedFilesAndChunks(connection)).toEqual(before);
    // Stated as the default is taken.
    const identity = await fetch(`${url}/v1/media`, {
      method: 'POST',
      headers: { ...owner.auth, 'content-type': 'multipart/form-data; boundary=B', 'content-encoding': 'identity' },
      body: new Uint8Array(form(png(100))),
    });
    expect(identity.status).toBe(201);
  });

  it('refuses a body with two files (400, neither kept) but ignores fields around the one file', async () => {
    const member = await registerAccount(url);
    const kept = () => connection.collection('media.files').countDocuments({ 'metadata.ownerId': member.userId });
    const post = (form: FormData) => fetch(`${url}/v1/media`, { method: 'POST', headers: member.auth, body: form });
    // Files and chunks: the first file was stored before the second was found, and must go with its chunks.
    const before = await storedFilesAndChunks(connection);
    const twoFiles = new FormData();
    twoFiles.append('file', new Blob([new Uint8Array(png(100))]), 'a.png');
    twoFiles.append('file', new Blob([new Uint8Array(png(200))]), 'b.png');
    const refused = await post(twoFiles);
    expect(refused.status).toBe(400);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/one file per upload/);
    expect(await kept()).toBe(0);
    expect(await storedFilesAndChunks(connection)).toEqual(before);

    const withFields = new FormData();
    withFields.append('caption', 'before');
    withFields.append('file', new Blob([new Uint8Array(png(100))]), 'a.png');
    withFields.append('caption', 'after');
    expect((await post(withFields)).status).toBe(201);
    expect(await kept()).toBe(1);
  });

  it('rejects an oversize file with 413 and leaves no file or chunk behind', async () => {
    const [files, chunks] = [connection.collection('media.files'), connection.collection('media.chunks')];
    const before = [await files.countDocuments(), await chunks.countDocuments()];
    const response = await upload(owner, png(2 * 1024 * 1024));
    expect(response.status).toBe(413);
    // Refused from its first bytes while the rest still arrives: the connection closes rather than wait for it.
    const notAnImage = await upload(owner, randomBytes(2 * 1024 * 1024));
    expect(notAnImage.status).toBe(415);
    expect(notAnImage.headers.get('connection')).toBe('close');
    expect([await files.countDocuments(), await chunks.countDocuments()]).toEqual(before);
  });

  it('lets only the owner delete, and removes file and chunks', async () => {
    const { id } = await uploaded(png(300_000));
    expect(await connection.collection('media.chunks').countDocuments({ files_id: new Types.ObjectId(id) })).toBe(2);
    const stranger = await registerAccount(url);
    const denied = await fetch(`${url}/v1/media/${id}`, { method: 'DELETE', headers: stranger.auth });
    expect(denied.status).toBe(403);
    expect(await statusOf(id)).toBe(200);
    expect((await fetch(`${url}/v1/media/${id}`, { method: 'DELETE', headers: owner.auth })).status).toBe(204);
    expect(await statusOf(id)).toBe(404);
    expect(await connection.collection('media.chunks').countDocuments({ files_id: new Types.ObjectId(id) })).toBe(0);
  });

  it('deletes only when If-Match, If-None-Match and If-Unmodified-Since hold, after the 403 a stranger gets', async () => {
    const { id, sha256 } = await uploaded(png(2_000));
    const remove = (account: Account, headers: Record<string, string>) =>
      fetch(`${url}/v1/media/${id}`, { method: 'DELETE', headers: { ...account.auth, ...headers } });
    const before = new Date(Date.now() - 3_600_000).toUTCString();
    const refusals: Record<string, string>[] = [
      { 'if-match': '"another"' },
      { 'if-none-match': '*' },
      { 'if-none-match': `W/"${sha256}"` },
    ];
    for (const refused of refusals) {
      const answer = await remove(owner, refused);
      expect(answer.status).toBe(412);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect((await remove(owner, { 'if-unmodified-since': before })).status).toBe(412);
    expect((await remove(await registerAccount(url), { 'if-match': '"another"' })).status).toBe(403);
    expect(await statusOf(id)).toBe(200);

    expect((await remove(owner, { 'if-match': `"${sha256}"`, 'if-none-match': '"another"' })).status).toBe(204);
    expect(await statusOf(id)).toBe(404);
  });

  it("gives uploads ids that another member's upload id does not reveal (downloads need only the id)", async () => {
    const other = await registerAccount(url);
    const ids: string[] = [];
    for (const account of [owner, other, owner]) {
      const response = await upload(account, png(100));
      expect(response.status).toBe(201);
      ids.push(((await response.json()) as { id: string }).id);
    }
    // Driver-made ids share their middle 5 bytes within a process and count up in the last 3: the other member's
    // upload was the owner's id plus a small number.
    expect(new Set(ids.map((id) => id.slice(8, 18))).size).toBe(3);
  });

  it('answers deletes of one file sent at once with 204 or 404, never a 500', async () => {
    const { id } = await uploaded(png(300_000));
    const remove = () => fetch(`${url}/v1/media/${id}`, { method: 'DELETE', headers: owner.auth });
    const statuses = (await Promise.all(Array.from({ length: 10 }, remove))).map((response) => response.status);
    expect(statuses).toContain(204);
    expect(statuses.every((status) => status === 204 || status === 404)).toBe(true);
    expect(await statusOf(id)).toBe(404);
    expect(await connection.collection('media.chunks').countDocuments({ files_id: new Types.ObjectId(id) })).toBe(0);
  });

  it('indexes the lookups by owner, by original and of the profiles showing a photo, which would read everything', async () => {
    // Built in the background at start.
    const keys = async (name: string) => (await connection.collection(name).indexes()).map((index) => index.key);
    await expect.poll(() => keys('media.files')).toContainEqual({ 'metadata.ownerId': 1, _id: 1 });
    await expect.poll(() => keys('media_variants.files')).toContainEqual({ 'metadata.originalId': 1 });
    // Every media delete looks for the profiles showing it, twice.
    await expect.poll(() => keys('profiles')).toContainEqual({ photoIds: 1 });
  });

  it('requires a token to upload', async () => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(png(10))]), 'x.png');
    expect((await fetch(`${url}/v1/media`, { method: 'POST', body: form })).status).toBe(401);
  });
});

describe('media quotas', () => {
  it('refuses a file past the count quota (403) and one past the byte quota (413), storing nothing', async () => {
    const running = await startApp(testConfig({ MEDIA_QUOTA_FILES: '2', MEDIA_QUOTA_BYTES: '300000' }));
    try {
      const sendAs = (account: Account) => async (bytes: Buffer) => {
        const form = new FormData();
        form.append('file', new Blob([new Uint8Array(bytes)]), 'x.png');
        const response = await fetch(`${running.url}/v1/media`, { method: 'POST', headers: account.auth, body: form });
        return { status: response.status, body: (await response.json()) as { detail?: string } };
      };
      const connection = running.app.get<Connection>(getConnectionToken());
      const send = sendAs(await registerAccount(running.url));
      expect((await send(png(200_000))).status).toBe(201);
      let before = await storedFilesAndChunks(connection);
      const overBytes = await send(png(150_000));
      expect(overBytes.status).toBe(413);
      expect(overBytes.body.detail).toMatch(/quota/);
      expect(await storedFilesAndChunks(connection)).toEqual(before);
      expect((await send(png(10_000))).status).toBe(201);
      before = await storedFilesAndChunks(connection);
      const overCount = await send(png(10));
      expect(overCount.status).toBe(403);
      expect(overCount.body.detail).toMatch(/at most 2 files/);
      expect(await storedFilesAndChunks(connection)).toEqual(before);
      // Another member has a quota of their own. Filled to the byte, it leaves no room: 413, not a 415 for an empty file.
      const sendAsOther = sendAs(await registerAccount(running.url));
      expect((await sendAsOther(png(300_000 - png(0).length))).status).toBe(201);
      before = await storedFilesAndChunks(connection);
      expect(await sendAsOther(png(10))).toMatchObject({
        status: 413,
        body: { detail: 'Media quota reached: 0 of 300000 bytes left' },
      });
      expect(await storedFilesAndChunks(connection)).toEqual(before);
    } finally {
      await running.close();
    }
  });
});

describe('media quotas under concurrent uploads', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp(testConfig({ MEDIA_QUOTA_FILES: '2', MEDIA_QUOTA_BYTES: '300000' }));
  });
  afterAll(async () => {
    await running.close();
  });

  /** Starts `count` uploads of `bytes` at once; the statuses, and the files the member has afterwards. */
  async function uploadAtOnce(count: number, bytes: Buffer) {
    const member = await registerAccount(running.url);
    const send = async () => {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(bytes)]), 'x.png');
      const response = await fetch(`${running.url}/v1/media`, { method: 'POST', headers: member.auth, body: form });
      return { status: response.status, body: (await response.json()) as { id?: string } };
    };
    const answers = await Promise.all(Array.from({ length: count }, send));
    const files = await running.app
      .get<Connection>(getConnectionToken())
      .collection('media.files')
      .find({ 'metadata.ownerId': member.userId })
      .toArray();
    return { answers, stored: files.map((file) => String(file._id)).sort() };
  }

  it.each([
    ['file count', 20, 5_000, 2, 403],
    ['byte', 2, 200_000, 1, 413],
  ])('never lets simultaneous uploads pass the %s quota', async (_quota, count, size, room, refusal) => {
    const { answers, stored } = await uploadAtOnce(count, png(size));
    expect(stored.length).toBeLessThanOrEqual(room);
    // The first in id order fits on its own, and waits for the others to withdraw (ten of ten loaded runs kept `room`).
    expect(stored.length).toBeGreaterThanOrEqual(1);
    // Every 201 is a kept file, every other answer a refusal that kept nothing.
    const created = answers.filter((answer) => answer.status === 201).map((answer) => answer.body.id);
    expect(created.sort()).toEqual(stored);
    expect(answers.filter((answer) => answer.status !== 201).every((answer) => answer.status === refusal)).toBe(true);
  });
});

describe('media quota count', () => {
  it('leaves out a file withdrawn by the quota, so uploads waiting for room need not wait for its delete', async () => {
    const running = await startApp(testConfig());
    try {
      const member = await registerAccount(running.url);
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(png(100))]), 'x.png');
      const response = await fetch(`${running.url}/v1/media`, { method: 'POST', headers: member.auth, body: form });
      const { id } = (await response.json()) as { id: string };
      const storage = running.app.get(MediaStorage);
      expect((await storage.filesOf(member.userId)).map((file) => file.id.toHexString())).toEqual([id]);
      await storage.withdraw(new Types.ObjectId(id));
      expect(await storage.filesOf(member.userId)).toEqual([]);
    } finally {
      await running.close();
    }
  });
});

describe('media transfer time', () => {
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  // Accounts come from an app with the default deadline: hashing a password can take a second on a busy machine.
  let accounts: RunningApp;
  beforeAll(async () => {
    accounts = await startApp(testConfig());
  });
  afterAll(async () => {
    await accounts?.close();
  });

  /**
   * Posts a body in pieces, one every `gapMs`, as a client on a slow link would, and goes on sending after an early
   * answer, so the server gets the whole body either way. Resolves with the status and when it came.
   */
  async function postSlowly(url: string, headers: Record<string, string>, pieces: Buffer[], gapMs: number) {
    const started = Date.now();
    const request = httpRequest(url, { method: 'POST', headers });
    const answer = new Promise<{ status: number; ms: number }>((resolve, reject) => {
      request.on('response', (response) => {
        const ms = Date.now() - started;
        response.resume().on('end', () => resolve({ status: response.statusCode!, ms }));
      });
      request.on('error', reject);
    });
    for (const piece of pieces) {
      request.write(piece);
      await pause(gapMs);
    }
    request.end();
    return answer;
  }

  const boundary = 'vesta-slow-upload';
  /** A multipart upload of `image` in five pieces. */
  const uploadPieces = (image: Buffer) => [
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.png"\r\nContent-Type: image/png\r\n\r\n`,
    ),
    image.subarray(0, 10_000),
    image.subarray(10_000, 20_000),
    image.subarray(20_000),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ];

  const imagePng = png(30_000);
  const uploadTo = (url: string, member: Account, gapMs: number) =>
    postSlowly(
      `${url}/v1/media`,
      { ...member.auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
      uploadPieces(imagePng),
      gapMs,
    );

  it('gives an upload REQUEST_TIMEOUT_MS on top of HANDLER_TIMEOUT_MS, which bounds a slow body elsewhere', async () => {
    const running = await startApp(testConfig({ HANDLER_TIMEOUT_MS: '2000' }));
    try {
      const member = await registerAccount(accounts.url);
      // About 3 s: past HANDLER_TIMEOUT_MS, well within the 32 s an upload has.
      const upload = await uploadTo(running.url, member, 750);
      expect(upload).toMatchObject({ status: 201 });
      expect(upload.ms).toBeGreaterThan(2_000);

      // Any other route has HANDLER_TIMEOUT_MS, and it counts the time the body takes to arrive. Once the client
      // has had its 408 (the body was late by its fault), the request does nothing: the address is still free.
      const body = JSON.stringify({ email: uniqueEmail('slow'), password: 'correct horse battery staple' });
      const pieces = [body.slice(0, 10), body.slice(10, 20), body.slice(20)].map((piece) => Buffer.from(piece));
      const jsonHeaders = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
      const register = await postSlowly(`${running.url}/v1/auth/register`, jsonHeaders, pieces, 1_200);
      expect(register).toMatchObject({ status: 408 });
      const again = await fetch(`${running.url}/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(again.status).toBe(201);
    } finally {
      await running.close();
    }
  });

  it('answers 408 to an upload whose body is still trickling in at its deadline, and keeps no file of it', async () => {
    // Uploads here have 1 s + 2 s. Node's server cuts such a body at the same deadline, a second later at most.
    const running = await startApp(testConfig({ HANDLER_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '2000' }));
    try {
      const member = await registerAccount(accounts.url);
      const files = running.app.get<Connection>(getConnectionToken()).collection('media.files');
      // About 6 s: the client has its 408 at 3 s; the rest of the file still arrives.
      const tooSlow = await uploadTo(running.url, member, 1_500);
      expect(tooSlow.status).toBe(408);
      expect(tooSlow.ms).toBeGreaterThanOrEqual(2_900);
      expect(tooSlow.ms).toBeLessThan(5_000);
      await pause(1_000);
      expect(await files.countDocuments({ 'metadata.ownerId': member.userId })).toBe(0);
    } finally {
      await running.close();
    }
  });

  it('answers 408 to an upload whose body stalls after the file, and keeps no file of it', async () => {
    const running = await startApp(testConfig({ HANDLER_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '2000' }));
    try {
      const member = await registerAccount(accounts.url);
      const files = running.app.get<Connection>(getConnectionToken()).collection('media.files');
      const chunks = running.app.get<Connection>(getConnectionToken()).collection('media.chunks');
      const chunksBefore = await chunks.countDocuments();
      const [head, ...image] = uploadPieces(imagePng).slice(0, -1);
      // The whole file, then the start of a field after it, and then nothing: the connection stays open.
      const stalled = httpRequest(`${running.url}/v1/media`, {
        method: 'POST',
        headers: { ...member.auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
      });
      const started = Date.now();
      const answer = new Promise<{ status: number; ms: number }>((resolve, reject) => {
        stalled.on('response', (response) => resolve({ status: response.statusCode!, ms: Date.now() - started }));
        stalled.on('error', reject);
      });
      stalled.write(
        Buffer.concat([
          head,
          ...image,
          Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nab`),
        ]),
      );
      const { status, ms } = await answer;
      stalled.destroy();
      expect(status).toBe(408);
      expect(ms).toBeLessThan(5_000);
      await expect.poll(() => files.countDocuments({ 'metadata.ownerId': member.userId }), { timeout: 5_000 }).toBe(0);
      await expect.poll(() => chunks.countDocuments(), { timeout: 5_000 }).toBe(chunksBefore);
    } finally {
      await running.close();
    }
  });
});
