import type { Account } from './accounts.js';

/** Uploads `bytes` as the member's media over HTTP; throws unless it is stored (201). */
export async function uploadMedia(
  baseUrl: string,
  account: Account,
  bytes: Buffer,
): Promise<{ id: string; sha256: string }> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)]), 'p.png');
  const response = await fetch(`${baseUrl}/v1/media`, { method: 'POST', headers: account.auth, body: form });
  if (response.status !== 201) throw new Error(`upload failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as { id: string; sha256: string };
}
