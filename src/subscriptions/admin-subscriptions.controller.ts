import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/decorators/roles.decorator.js';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { decodeCursor, encodeCursor } from '../profiles/cursor.js';
import { AdminSubscriptionsQuery } from './dto/admin-subscriptions.query.js';
import { toSubscriptionView, type SubscriptionView } from './subscription.view.js';
import { SubscriptionsRepository } from './subscriptions.repository.js';
import { CacheControl } from '../cache/http-cache.js';

type AdminSubscriptionView = SubscriptionView & { userId: string };

@ApiTags('subscriptions')
@ApiBearerAuth()
@Roles('admin')
@Controller('admin/subscriptions')
export class AdminSubscriptionsController {
  constructor(private readonly subscriptions: SubscriptionsRepository) {}

  @Get()
  @CacheControl('no-store')
  @ApiOperation({ summary: 'All subscriptions, newest first, filtered by status and plan, with cursor pages' })
  @ApiOkResponse({ description: '{ items: subscription + userId, nextCursor }' })
  @ApiForbiddenResponse({ type: ProblemResponseDto, description: 'Admins only' })
  async list(
    @Query() query: AdminSubscriptionsQuery,
  ): Promise<{ items: AdminSubscriptionView[]; nextCursor: string | null }> {
    const limit = query.limit ?? 20;
    const records = await this.subscriptions.list(
      { status: query.status, plan: query.plan, beforeId: query.cursor ? decodeCursor(query.cursor) : undefined },
      limit + 1,
    );
    const page = records.slice(0, limit);
    return {
      items: page.map((record) => ({ userId: String(record.userId), ...toSubscriptionView(record) })),
      nextCursor: records.length > limit ? encodeCursor(page[page.length - 1]._id) : null,
    };
  }
}
