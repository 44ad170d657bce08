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
    for (const bad of [undefined, '', 'v1=abc', `t=${now}`, `t=${now},v1=${'z'.repeat(64)}`]) {
      expect(signatureProblem(bad, body, SECRET, 300, now)).toBe('missing or malformed signature header');
    }
  });
});
