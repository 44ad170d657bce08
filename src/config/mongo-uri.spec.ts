import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mongoUriProblem } from './mongo-uri.js';

describe('mongoUriProblem', () => {
  it('says why the driver would refuse a URI, before anything connects', () => {
    expect(mongoUriProblem('mongodb://')).toMatch(/host list are required/);
    expect(mongoUriProblem('mongodb://127.0.0.1/vesta?foo=bar')).toMatch(/option foo/);
    expect(mongoUriProblem('mongodb://127.0.0.1:99999/vesta')).toMatch(/^is not a URI the MongoDB driver accepts/);
  });

  it('accepts replica sets with credentials and options, and SRV URIs', () => {
    expect(mongoUriProblem('mongodb://vesta:s%40cret@db-0:27017,db-1:27017/vesta?replicaSet=rs0&w=majority')).toBe(
      undefined,
    );
    expect(mongoUriProblem('mongodb+srv://cluster0.example.net/vesta')).toBe(undefined);
  });

  it('names a TLS file the driver could not read when it connects, instead of failing every connect attempt', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vesta-tls-'));
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
    const uri = (query: string) => `mongodb://vesta:hunter2@db-0:27017/vesta?replicaSet=rs0&${query}`;
    expect(mongoUriProblem(uri(`tls=true&tlsCAFile=${ca}`))).toBe(undefined);
    expect(mongoUriProblem(uri(`tls=true&tlsCAFile=${join(dir, 'missing.pem')}`))).toBe(
      `has tlsCAFile=${join(dir, 'missing.pem')}, which cannot be read (ENOENT)`,
    );
    expect(mongoUriProblem(uri(`tls=true&tlsCAFile=${ca}&tlsCertificateKeyFile=${dir}`))).toBe(
      `has tlsCertificateKeyFile=${dir}, which is not a file`,
    );
    // Without TLS the driver never reads them.
    expect(mongoUriProblem(uri(`tls=false&tlsCAFile=${join(dir, 'missing.pem')}`))).toBe(undefined);
    rmSync(dir, { recursive: true });
  });
});
