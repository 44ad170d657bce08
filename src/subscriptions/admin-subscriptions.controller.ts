import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/decorators/roles.decorator.js';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { cursorPage, decodeCursor, pageScope } from '../profiles/cursor.js';
import { AdminSubscriptionsQuery } from './dto/admin-subscriptions.query.js';
import { AdminSubscriptionPageDto } from './dto/subscription.dto.js';
import { isDamaged } from './stored-subscription.js';
import { toSubscriptionView } from './subscription.view.js';
import { SubscriptionsRepository } from './subscriptions.repository.js';
import { CacheControl } from '../cache/http-cache.js';

/** How many records stored with an id that is no ObjectId the first page names at most. */
const FOREIGN_ID_LIMIT = 100;

@ApiTags('subscriptions')
@ApiBearerAuth()
@Roles('admin')
@Controller('admin/subscriptions')
export class AdminSubscriptionsController {
  constructor(private readonly subscriptions: SubscriptionsRepository) {}

  @Get()
  @CacheControl('no-store')
  @ApiOperation({
    summary: 'All subscriptions, newest first, filtered by status and plan, with cursor pages',
    description:
      'A subscription whose stored record cannot be read (a period date missing or not a date, an unknown plan or ' +
      'status) is listed in `damaged`, with what is wrong, instead of `items`; the others are listed as ever. One ' +
      'stored with an id that is no ObjectId (an import without types) cannot be paged: the first page lists up ' +
      'to 100 such in `damaged`.',
  })
  @ApiOkResponse({ type: AdminSubscriptionPageDto })
  @ApiForbiddenResponse({ type: ProblemResponseDto, description: 'Admins only' })
  async list(@Query() query: AdminSubscriptionsQuery): Promise<AdminSubscriptionPageDto> {
    const limit = query.limit ?? 20;
    // A cursor pages only the list and filters it was issued for.
    const scope = pageScope('admin-subscriptions', { status: query.status, plan: query.plan });
    const records = await this.subscriptions.list(
      {
        status: query.status,
        plan: query.plan,
        beforeId: query.cursor ? decodeCursor(query.cursor, scope) : undefined,
      },
      limit + 1,
    );
    const { page, nextCursor } = cursorPage(records, limit, (record) => record._id, scope);
    const items = page.flatMap((read) => (isDamaged(read) ? [] : [read]));
    // Records whose id is no ObjectId cannot be paged by it: the first page names them.
    const filters = { status: query.status, plan: query.plan };
    const foreign = query.cursor ? [] : await this.subscriptions.withForeignIds(filters, FOREIGN_ID_LIMIT);
    const damaged = [...page.filter(isDamaged), ...foreign];
    return {
      items: items.map((record) => ({ userId: String(record.userId), ...toSubscriptionView(record) })),
      ...(damaged.length > 0 && {
        damaged: damaged.map(({ _id, userId, problems }) => ({ id: String(_id), userId: String(userId), problems })),
      }),
      nextCursor,
    };
  }
}
