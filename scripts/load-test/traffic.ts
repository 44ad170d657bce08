import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pMap from 'p-map';
import { zipfSampler } from '../../bench/zipf.js';
import { pngStructure } from '../../test/factories/images.js';
import type { Mix } from './config.js';

interface Member {
  email: string;
  password: string;
  token: string;
  profileId: string;
  /** When the token is to be replaced (see renewalTime). */
  renewAtMs: number;
  /** A login under way to replace it. */
  renewing?: Promise<void>;
}

export interface RequestSpec {
  kind: keyof Mix;
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface Traffic {
  /** A request of the mix, chosen by weight. */
  next(): RequestSpec;
  /** Deletes the profiles and the upload the preparation made (see removeMade). */
  removeAll(): Promise<void>;
}

const PASSWORD = 'load-test password';
const CITIES = ['Berlin', 'Hamburg', 'Munich', 'Cologne', 'Frankfurt'];

/**
 * Creates the members the run signs in as (each with a profile, and one upload to download), reads the
 * public profile ids to read with Zipf-distributed popularity, and returns the weighted request mix.
 */
export async function prepareTraffic(target: string, mix: Mix, members: number): Promise<Traffic> {
  const made: Made = { members: [] };
  let ids: string[];
  try {
    ids = await prepare(target, members, made);
  } catch (error) {
    // What was made before the failure goes too: a target refusing the tenth sign-up kept nine profiles each attempt.
    await removeMade(target, made);
    throw error;
  }
  const created = made.members;
  const mediaId = made.mediaId as string;
  const rank = zipfSampler(ids.length, 1);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)];
  const kinds = Object.entries(mix).filter(([, weight]) => weight > 0) as [keyof Mix, number][];
  const total = kinds.reduce((sum, [, weight]) => sum + weight, 0);

  return {
    next(): RequestSpec {
      let roll = Math.random() * total;
      const kind = kinds.find(([, weight]) => (roll -= weight) < 0)?.[0] ?? kinds[0][0];
      const member = pick(created);
      renewIfDue(target, member);
      const headers: Record<string, string> = { authorization: `Bearer ${member.token}` };
      switch (kind) {
        case 'profileRead':
          return { kind, method: 'GET', path: `/v1/profiles/${ids[rank()]}`, headers };
        case 'search':
          return {
            kind,
            method: 'GET',
            path: `/v1/profiles?city=${pick(CITIES)}&minAge=${20 + Math.floor(Math.random() * 15)}&limit=20`,
            headers,
          };
        case 'nearby':
          return {
            kind,
            method: 'GET',
            path: `/v1/profiles/nearby?lat=${(52.3 + Math.random()).toFixed(3)}&lng=${(13 + Math.random()).toFixed(3)}&radiusKm=10`,
            headers,
          };
        case 'cities':
          return { kind, method: 'GET', path: '/v1/locations/cities', headers };
        case 'profileUpdate':
          return {
            kind,
            method: 'PATCH',
            path: `/v1/profiles/${member.profileId}`,
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify({ bio: `Updated ${Date.now()}` }),
          };
        case 'login':
          return {
            kind,
            method: 'POST',
            path: '/v1/auth/login',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email: member.email, password: member.password }),
          };
        case 'mediaDownload':
          return { kind, method: 'GET', path: `/v1/media/${mediaId}`, headers: {} };
      }
    },
    removeAll: () => removeMade(target, made),
  };
}

/** What the preparation made, as far as it got. */
interface Made {
  members: Member[];
  mediaId?: string;
}

/** Signs up the members, each with a profile, and uploads one image, into `made`; returns the profile ids to read. */
async function prepare(target: string, members: number, made: Made): Promise<string[]> {
  for (let i = 0; i < members; i += 1) {
    const email = `load-${randomUUID()}@example.test`;
    const signUp = await send('Sign-up', `${target}/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    if (signUp.status === 429) {
      throw new Error(
        'The target rate-limits sign-ups (429): start it with THROTTLE_CREDENTIALS_LIMIT raised (scripts/dev.sh does)',
      );
    }
    const { accessToken } = expectStatus(signUp, 201) as { accessToken: string };
    const profile = await send('Profile creation', `${target}/v1/profiles`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
      body: JSON.stringify(profileBody(i)),
    });
    const { id } = expectStatus(profile, 201) as { id: string };
    made.members.push({
      email,
      password: PASSWORD,
      token: accessToken,
      profileId: id,
      renewAtMs: renewalTime(accessToken),
    });
  }
  made.mediaId = await uploadOne(target, made.members[0].token);
  const ids = await publicProfileIds(target, made.members[0].token);
  if (ids.length === 0) throw new Error('The target has no public profiles to read');
  return ids;
}

/**
 * Deletes the members' profiles and the upload, a few at a time, each deletion bounded as a preparation request is.
 * Left behind, every run added its members to the target's public profiles, and later runs read them (the newest
 * 2,000). The accounts stay: the API has no route that deletes one. A deletion that fails is named, not thrown: the
 * run's figures stand whatever happens to its clean-up.
 */
async function removeMade(target: string, made: Made): Promise<void> {
  const deletions = made.members.map((member) => ({
    step: `Deleting profile ${member.profileId}`,
    url: `${target}/v1/profiles/${member.profileId}`,
    member,
  }));
  if (made.mediaId !== undefined)
    deletions.push({
      step: `Deleting upload ${made.mediaId}`,
      url: `${target}/v1/media/${made.mediaId}`,
      member: made.members[0],
    });
  if (deletions.length === 0) return;
  process.stderr.write(`Deleting the ${deletions.length} profiles and uploads the run made ...\n`);
  await pMap(
    deletions,
    async ({ step, url, member }) => {
      const token = await freshToken(target, member);
      const why = await send(step, url, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })
        .then((answer) => (answer.status === 204 ? undefined : `${answer.status} ${answer.text}`))
        .catch((error: unknown) => (error as Error).message);
      if (why !== undefined) process.stderr.write(`${step} failed: ${why.trimEnd()}\n`);
    },
    // Each member at once was a thousand simultaneous requests for --members 1000, refused or timed out in part.
    { concurrency: DELETIONS_AT_ONCE },
  );
}

const DELETIONS_AT_ONCE = 8;

/**
 * When a token is to be replaced: halfway through its lifetime (its `exp` less its `iat`), counted from when it came,
 * so that a target whose clock is ahead or behind makes no difference. Never for a token without those claims.
 * Without renewal, a run longer than the target's JWT_ACCESS_TTL_S (900 s by default) sent expired tokens from then
 * on: every request a 401 counted against the target, and its clean-up refused.
 */
function renewalTime(token: string): number {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as {
      iat: unknown;
      exp: unknown;
    };
    const lifetimeS = Number(claims.exp) - Number(claims.iat);
    return lifetimeS > 0 ? Date.now() + (lifetimeS * 1000) / 2 : Infinity;
  } catch {
    return Infinity;
  }
}

/** After a failed renewal the old token serves on, and the next login waits this long. */
const RENEWAL_RETRY_MS = 5_000;

/** Starts a login to replace the member's token once it is due, in the background; meanwhile the old one serves. */
function renewIfDue(target: string, member: Member): void {
  if (member.renewing || Date.now() < member.renewAtMs) return;
  member.renewing = logIn(target, member)
    .catch((error: unknown) => {
      member.renewAtMs = Date.now() + RENEWAL_RETRY_MS;
      process.stderr.write(`Renewing the token of ${member.email} failed: ${(error as Error).message}\n`);
    })
    .finally(() => (member.renewing = undefined));
}

/** The member's token, renewed first if it is due (by the one login under way for the member, if there is one). */
async function freshToken(target: string, member: Member): Promise<string> {
  renewIfDue(target, member);
  await member.renewing;
  return member.token;
}

async function logIn(target: string, member: Member): Promise<void> {
  const answer = await send(`Logging in ${member.email}`, `${target}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: member.email, password: member.password }),
  });
  const { accessToken } = expectStatus(answer, 200) as { accessToken: string };
  member.token = accessToken;
  member.renewAtMs = renewalTime(accessToken);
}

function profileBody(i: number) {
  const birth = new Date();
  birth.setUTCFullYear(birth.getUTCFullYear() - 20 - (i % 20));
  return {
    displayName: `Load ${i}`,
    birthDate: birth.toISOString().slice(0, 10),
    gender: ['woman', 'man', 'nonbinary'][i % 3],
    interestedIn: ['woman', 'man'],
    interests: ['hiking', 'music'],
    location: { city: CITIES[i % CITIES.length], country: 'DE', lat: 52.3 + (i % 10) / 10, lng: 13 + (i % 7) / 10 },
  };
}

/** A 200 KB upload with a PNG's structure, so media downloads are part of the mix. */
async function uploadOne(target: string, token: string): Promise<string> {
  const png = pngStructure(200_000, 7);
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(png)]), 'load.png');
  const upload = await send('Upload', `${target}/v1/media`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  return (expectStatus(upload, 201) as { id: string }).id;
}

/** Up to 2,000 public profile ids, most recent first, through the search's cursor pages. */
async function publicProfileIds(target: string, token: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await send(
      'Reading profile ids',
      `${target}/v1/profiles?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
      {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    const body = expectStatus(page, 200) as { items: { id: string }[]; nextCursor?: string };
    ids.push(...body.items.map((item) => item.id));
    cursor = body.nextCursor;
  } while (cursor && ids.length < 2_000);
  return ids;
}

/**
 * How long each preparation request may take. The API answers a request it cannot finish within its deadline
 * (HANDLER_TIMEOUT_MS, 10 s by default) with a 503, so a target silent for longer does not answer at all: a hung
 * process, or a program on that port that is not the API. Without a bound fetch waits 300 s for each (undici's
 * headers timeout), then says only "Headers Timeout Error".
 */
const PREPARE_TIMEOUT_MS = 15_000;

interface Answer {
  step: string;
  status: number;
  text: string;
}

/** How often a preparation request answered 503 with Retry-After is sent, and the longest wait honoured between. */
const PREPARE_ATTEMPTS = 3;
const PREPARE_MAX_RETRY_AFTER_S = 10;

/**
 * One preparation request, answered whole (body included) within PREPARE_TIMEOUT_MS, else an error naming it. A 503
 * with Retry-After (the API's answer to a passing overload, such as a slow database) is tried again after that wait:
 * a database still busy with a previous run would otherwise end the next one before it started.
 */
async function send(step: string, url: string, init: RequestInit): Promise<Answer> {
  for (let attempt = 1; ; attempt += 1) {
    const answer = await fetch(url, { ...init, signal: AbortSignal.timeout(PREPARE_TIMEOUT_MS) })
      .then(async (response) => ({
        step,
        status: response.status,
        text: await response.text(),
        retryAfterS: Number(response.headers.get('retry-after') ?? Number.NaN),
      }))
      .catch((error: unknown) => {
        if ((error as Error).name !== 'TimeoutError') throw error;
        return undefined;
      });
    // The timeout's own message ("The operation was aborted due to timeout") names neither the step nor the target.
    if (!answer) throw new Error(`${step}: no answer from ${url} within ${PREPARE_TIMEOUT_MS / 1000} s`);
    const { retryAfterS, ...answered } = answer;
    if (answer.status !== 503 || !(retryAfterS >= 0) || attempt === PREPARE_ATTEMPTS) return answered;
    process.stderr.write(`${step}: 503, trying again in ${retryAfterS} s\n`);
    await sleep(Math.min(retryAfterS, PREPARE_MAX_RETRY_AFTER_S) * 1000);
  }
}

/** The answer's JSON body if it has the `status` the step needs; otherwise an error with what came instead. */
function expectStatus(answer: Answer, status: number): unknown {
  if (answer.status !== status) throw new Error(`${answer.step} failed: ${answer.status} ${answer.text}`.trimEnd());
  return JSON.parse(answer.text) as unknown;
}
