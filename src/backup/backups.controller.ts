import { ConflictException, Controller, Get, HttpCode, Post, ServiceUnavailableException } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { Roles } from '../auth/decorators/roles.decorator.js';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import type { BackupRun } from './backup-runs.js';
import { BackupRunningError, BackupService } from './backup.service.js';
import { BackupRunDto, BackupRunListDto } from './dto/backup-run.dto.js';
import { CacheControl } from '../cache/http-cache.js';

const toView = ({ _id, ...run }: BackupRun): BackupRunDto => ({ id: _id, ...run });

@ApiTags('backups')
@ApiBearerAuth()
@Roles('admin')
@Controller('admin/backups')
export class BackupsController {
  constructor(private readonly backups: BackupService) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({ summary: 'Start a backup now; it runs in the background (GET lists its progress)' })
  @ApiAcceptedResponse({ type: BackupRunDto, description: 'The new run, status running' })
  @ApiConflictResponse({ type: ProblemResponseDto, description: 'A backup or a restore is already running' })
  @ApiForbiddenResponse({ type: ProblemResponseDto, description: 'Admins only' })
  @ApiServiceUnavailableResponse({
    type: ProblemResponseDto,
    description: 'This instance cannot write to its backup folder (BACKUP_DIR); the detail names the cause',
  })
  async start(): Promise<BackupRunDto> {
    // Before the 202, or an API pod whose BACKUP_DIR cannot be written (the manifests' read-only root filesystem)
    // would accept a run that fails a moment later.
    await this.backups.storage.checkWritable().catch((error: Error) => {
      throw new ServiceUnavailableException(error.message);
    });
    try {
      return toView((await this.backups.begin('api')).run);
    } catch (error) {
      if (error instanceof BackupRunningError) throw new ConflictException(error.message);
      throw error;
    }
  }

  @Get()
  @CacheControl('no-store')
  @ApiOperation({ summary: 'The last 100 backup runs, newest first: status, size, duration, counts, verification' })
  @ApiOkResponse({ type: BackupRunListDto })
  @ApiForbiddenResponse({ type: ProblemResponseDto, description: 'Admins only' })
  async list(): Promise<BackupRunListDto> {
    return { items: (await this.backups.runs.recent(100)).map(toView) };
  }
}
