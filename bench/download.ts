import { get } from 'node:http';

/**
 * Downloads `url` and throws the bytes away, counting them; `headersMs` is how long its status line took. A download
 * cut off after its status line (the API does so when the database stops answering its chunk reads) ends with the
 * bytes it got, to be counted as incomplete, rather than failing: one cut download would end the benchmark with
 * "aborted" and none of its figures.
 */
export function download(url: string): Promise<{ status: number; bytes: number; headersMs: number }> {
  const asked = performance.now();
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (response) => {
      const headersMs = performance.now() - asked;
      let bytes = 0;
      const done = () => resolve({ status: response.statusCode ?? 0, bytes, headersMs });
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.on('end', done);
      response.on('error', done);
    }).on('error', reject);
  });
}
