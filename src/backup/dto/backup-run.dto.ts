import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

class BackupVerifyDto {
  @ApiProperty({ enum: ['passed', 'failed'] }) status: 'passed' | 'failed';
  @ApiProperty() at: Date;
  @ApiProperty({ type: 'integer', example: 5400 }) durationMs: number;
  @ApiPropertyOptional({ description: 'Why it failed' }) error?: string;
}

class BackupRetentionDto {
  @ApiProperty({ enum: ['done', 'failed'] }) status: 'done' | 'failed';
  @ApiProperty() at: Date;
  @ApiPropertyOptional({ type: [String], description: 'Ids of the backups removed' }) removed?: string[];
  @ApiPropertyOptional({ description: 'Why it failed' }) error?: string;
}

/** One backup attempt, as `backup_runs` records it (backup-runs.ts); fields appear as the run gets to them. */
export class BackupRunDto {
  @ApiProperty({ example: '20261124T030000Z-3fa1' }) id: string;
  @ApiProperty({ enum: ['schedule', 'api', 'cli'] }) trigger: 'schedule' | 'api' | 'cli';
  @ApiProperty({ enum: ['running', 'succeeded', 'failed'] }) status: 'running' | 'succeeded' | 'failed';
  @ApiProperty() startedAt: Date;
  @ApiPropertyOptional() finishedAt?: Date;
  @ApiPropertyOptional({ type: 'integer' }) durationMs?: number;
  @ApiPropertyOptional({ type: 'integer', description: 'Stored (compressed) size' }) sizeBytes?: number;
  @ApiPropertyOptional({ type: 'integer' }) documents?: number;
  @ApiPropertyOptional({ type: 'integer' }) collections?: number;
  @ApiPropertyOptional({ description: 'Why it failed' }) error?: string;
  @ApiPropertyOptional({ type: BackupVerifyDto, description: 'The restore into a scratch database (BACKUP_VERIFY)' })
  verify?: BackupVerifyDto;
  @ApiPropertyOptional({ type: BackupRetentionDto, description: 'Removal of expired backups after this one' })
  retention?: BackupRetentionDto;
  @ApiPropertyOptional({ description: 'When retention removed its files' }) deletedAt?: Date;
}

export class BackupRunListDto {
  @ApiProperty({ type: [BackupRunDto], description: 'Newest first, at most 100' }) items: BackupRunDto[];
}
