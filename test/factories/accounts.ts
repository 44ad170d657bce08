import { randomUUID } from 'node:crypto';

export interface Account {
  email: string;
  password: string;
  token: string;
  userId: string;
  auth: { authorization: string };
}

export const uniqueEmail = (label = 'member'): string => `${label}-${randomUUID().slice(0, 12)}@example.test`;

/** Registers a fresh account over HTTP and returns its token. */
export async function registerAccount(baseUrl: string, label?: string): Promise<Account> {
  const email = uniqueEmail(label);
  const password = 'correct horse battery staple';
  const response = await fetch(`${baseUrl}/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (response.status !== 201) throw new Error(`register failed: ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { accessToken: string; user: { id: string } };
  return {
    email,
    password,
    token: body.accessToken,
    userId: body.user.id,
    auth: { authorization: `Bearer ${body.accessToken}` },
  };
}

/** Logs in an existing account. */
export async function login(baseUrl: string, email: string, password: string): Promise<string> {
  const response = await fetch(`${baseUrl}/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (response.status !== 200) throw new Error(`login failed: ${response.status}`);
  return ((await response.json()) as { accessToken: string }).accessToken;
}
