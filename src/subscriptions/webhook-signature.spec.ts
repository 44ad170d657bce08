import { sign, signatureProblem } from './webhook-signature.js';

const SECRET = 'a-webhook-secret-of-at-least-32-characters';
const body = Buffer.from('{"id":"evt_1","type":"invoice.paid"}');
const now = 1_800_000_000;

describe('webhook signatures', () => {
  it('accepts the exact body signed with the secret within the tolerance', () => {
    expect(signatureProblem(sign(SECRET, body, now - 100), body, SECRET, 300, now)).toBeUndefined();
  });

  it('rejects another body, another secret, a stale or future timestamp and malformed headers', () => {
    const header = sign(SECRET, body, now);
    expect(signatureProblem(header, Buffer.from(`${body.toString()} `), SECRET, 300, now)).toBe(
      'signature does not match',
    );
    expect(signatureProblem(sign(`${SECRET}x`, body, now), body, SECRET, 300, now)).toBe('signature does not match');
    expect(signatureProblem(sign(SECRET, body, now - 301), body, SECRET, 300, now)).toMatch(/outside the tolerance/);
    expect(signatureProblem(sign(SECRET, body, now + 301), body, SECRET, 300, now)).toMatch(/outside the tolerance/);
    for (const bad of [
      undefined,
      '',
      'v1=abc',
      `t=${now}`,
      `t=${now},v1=${'z'.repeat(64)}`,
      `t=${now},t=${now},v1=${'a'.repeat(64)}`,
      `t=${now},v0=${'a'.repeat(64)}`,
      `t=${now},v1`,
    ]) {
      expect(signatureProblem(bad, body, SECRET, 300, now), bad).toBe('missing or malformed signature header');
    }
  });

  it('accepts a header with several signatures when one matches, as providers send while their secret is rolled', () => {
    const mac = (secret: string) => sign(secret, body, now).split('v1=')[1];
    const other = 'an-older-webhook-secret-of-32-characters';
    // The new secret's signature first or last, and a test-mode scheme (v0) beside them, ignored.
    for (const header of [
      `t=${now},v1=${mac(other)},v1=${mac(SECRET)}`,
      `t=${now},v1=${mac(SECRET)},v1=${mac(other)},v0=${'0'.repeat(64)}`,
      `v1=${mac(SECRET)},t=${now}`,
    ]) {
      expect(signatureProblem(header, body, SECRET, 300, now), header).toBeUndefined();
    }
    expect(signatureProblem(`t=${now},v1=${mac(other)},v1=${mac(other)}`, body, SECRET, 300, now)).toBe(
      'signature does not match',
    );
  });
});
