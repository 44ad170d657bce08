import { Logger } from '@nestjs/common';
import { describe, expect, it, vi } from 'vitest';
import type { AppConfig } from '../config/app-config.js';
import { EmailTakenError, type UserRecord, type UsersRepository } from '../users/users.repository.js';
import { AdminBootstrapService } from './admin-bootstrap.service.js';
import type { PasswordHasher } from './password-hasher.js';

const ADMIN = { email: ' Ops-Lead@Example.com ', password: 'operator-chosen-password' };

function setup(existing: Partial<UserRecord> | null) {
  const users = {
    findByEmail: vi.fn(() => Promise.resolve(existing && { id: 'u1', email: 'ops-lead@example.com', ...existing })),
    setRole: vi.fn(() => Promise.resolve()),
    create: vi.fn(() => Promise.resolve()),
    // No account stored under an earlier form of the email.
    emailsMatching: vi.fn(async function* () {}),
  };
  // The stored hash of the account is the password itself here: verify compares the two.
  const hasher = {
    hash: vi.fn((password: string) => Promise.resolve(`hash:${password}`)),
    verify: vi.fn((hash: string, password: string) => Promise.resolve(hash === password)),
  };
  const config = { auth: { admin: ADMIN } } as unknown as AppConfig;
  const service = new AdminBootstrapService(
    users as unknown as UsersRepository,
    hasher as unknown as PasswordHasher,
    config,
  );
  return { service, users };
}

describe('AdminBootstrapService', () => {
  it('creates the admin under the normalised email when no account has it', async () => {
    const { service, users } = setup(null);
    await service.onApplicationBootstrap();
    expect(users.findByEmail).toHaveBeenCalledWith('ops-lead@example.com');
    expect(users.create).toHaveBeenCalledWith({
      email: 'ops-lead@example.com',
      passwordHash: `hash:${ADMIN.password}`,
      role: 'admin',
    });
  });

  it('does not promote a member account registered with another password', async () => {
    const { service, users } = setup({ role: 'user', passwordHash: 'attacker-chosen-password' });
    await service.onApplicationBootstrap();
    expect(users.setRole).not.toHaveBeenCalled();
  });

  it('promotes a member account whose password is ADMIN_PASSWORD', async () => {
    const { service, users } = setup({ role: 'user', passwordHash: ADMIN.password });
    await service.onApplicationBootstrap();
    expect(users.setRole).toHaveBeenCalledWith('u1', 'admin');
  });

  it('judges an account registered with the email while the admin password was hashed as one found at first', async () => {
    const refused = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    for (const [passwordHash, promoted] of [
      [ADMIN.password, true],
      ['attacker-chosen-password', false],
    ] as const) {
      refused.mockClear();
      const { service, users } = setup(null);
      const member = { id: 'u1', email: 'ops-lead@example.com', role: 'user', passwordHash };
      users.create.mockImplementationOnce(() => {
        users.findByEmail.mockResolvedValue(member as UserRecord);
        return Promise.reject(new EmailTakenError());
      });
      await service.onApplicationBootstrap();
      expect(users.setRole.mock.calls.length, passwordHash).toBe(promoted ? 1 : 0);
      expect(refused.mock.calls.length, passwordHash).toBe(promoted ? 0 : 1);
    }
    refused.mockRestore();
  });

  it('leaves an existing admin as it is, whatever its password', async () => {
    const { service, users } = setup({ role: 'admin', passwordHash: 'changed-since' });
    await service.onApplicationBootstrap();
    expect(users.setRole).not.toHaveBeenCalled();
    expect(users.create).not.toHaveBeenCalled();
  });
});
