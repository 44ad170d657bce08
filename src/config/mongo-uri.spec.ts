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
});
