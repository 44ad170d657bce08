import {
  BadRequestException,
  Controller,
  Delete,
  ForbiddenException,
  Get,
  HttpCode,
  HttpException,
  Logger,
  NotFoundException,
  Param,
  PayloadTooLargeException,
  Post,
  Query,
  Req,
  Res,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { ApiBearerAuth, ApiConsumes, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Types } from 'mongoose';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/decorators/current-user.decorator.js';
import { Public } from '../auth/decorators/public.decorator.js';
import { ParseObjectIdPipe } from '../common/pipes/parse-object-id.pipe.js';
import { dropSuccessHeaders, genericProblem, PROBLEM_CONTENT_TYPE } from '../common/problem/problem-details.js';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { DeadlineExceededException, FileUpload } from '../http/request-deadlines.js';
import { notModified } from '../http/not-modified.js';
import { parseRange } from './byte-range.js';
import { MediaDownloadQuery } from './dto/media-download.query.js';
import { FileGoneError, type StoredFile } from './gridfs-bucket.js';
import { SNIFF_BYTES, sizeFromHeader, sniffMediaType } from './media-types.js';
import { MediaVariantsJob } from './media-variants.job.js';
import { MediaService } from './media.service.js';
import { MediaStorage, type MediaFile } from './media.storage.js';

interface MediaView {
  id: string;
  contentType: string;
  length: number;
  sha256: string;
  /** Absent when the header does not say; the variants job fills it in. */
  width?: number;
  height?: number;
  url: string;
}

const toView = (file: MediaFile): MediaView => ({
  id: file.id.toHexString(),
  contentType: file.contentType,
  length: file.length,
  sha256: file.sha256,
  width: file.width,
  height: file.height,
  url: `/v1/media/${file.id.toHexString()}`,
});

/**
 * The multipart parser's own errors (no boundary, a body that ends mid-part) are plain Errors: the body is at fault,
 * so a 400, not a 500. Errors that carry a status (the size and count limits) keep it.
 */
async function parsed<T>(reading: Promise<T>): Promise<T> {
  try {
    return await reading;
  } catch (error) {
    if (error instanceof HttpException || typeof (error as { statusCode?: unknown }).statusCode === 'number')
      throw error;
    throw new BadRequestException(`Malformed multipart body: ${(error as Error).message}`);
  }
}

/** A variant asked for before it exists gets the original, cached briefly so the variant replaces it soon. */
const VARIANT_PENDING_MAX_AGE_S = 60;
/** Enough of the file to find the dimensions in most headers (a JPEG's come after its EXIF block). */
const HEADER_BYTES = 64 * 1024;

@ApiTags('media')
@Controller('media')
export class MediaController {
  private readonly logger = new Logger(MediaController.name);
  constructor(
    private readonly storage: MediaStorage,
    private readonly media: MediaService,
    private readonly variantsJob: MediaVariantsJob,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  @Post()
  @FileUpload()
  @ApiBearerAuth()
  @ApiConsumes('multipart/form-data')
  @ApiOperation({ summary: 'Upload an image (multipart field "file"): JPEG, PNG, WebP or GIF, decided from its bytes' })
  async upload(
    @CurrentUser() user: AuthenticatedUser,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<MediaView> {
    if (!request.isMultipart()) throw new BadRequestException('Send multipart/form-data with a "file" field');
    const { quotaFiles, quotaBytes } = this.config.media;
    const used = await this.storage.usage(user.id);
    if (used.files >= quotaFiles) throw new ForbiddenException(`Media quota reached: at most ${quotaFiles} files`);
    // The file may use what is left of the byte quota, up to the per-file limit. Concurrent uploads
    // by one member can overshoot the quota by at most one file each.
    const maxBytes = Math.min(this.config.media.maxBytes, quotaBytes - used.bytes);
    const part = await parsed(request.file({ limits: { fileSize: maxBytes, files: 1 } }));
    if (!part || part.fieldname !== 'file') throw new BadRequestException('Send the file in a "file" field');

    // Peek at the first bytes to decide the type and size, then stream those bytes and the rest into GridFS.
    const iterator = part.file[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const nextChunk = () => parsed(iterator.next());
    const head: Buffer[] = [];
    let headLength = 0;
    let ended = false;
    while (headLength < HEADER_BYTES) {
      const next = await nextChunk();
      if (next.done) {
        ended = true;
        break;
      }
      head.push(next.value);
      headLength += next.value.length;
    }
    const header = Buffer.concat(head);
    const contentType = await sniffMediaType(header.subarray(0, SNIFF_BYTES));
    if (!contentType) {
      part.file.resume(); // drain, so the connection stays usable
      throw new UnsupportedMediaTypeException('Only JPEG, PNG, WebP and GIF images are accepted');
    }
    async function* bytes(): AsyncGenerator<Buffer> {
      yield* head;
      if (ended) return;
      for (let next = await nextChunk(); !next.done; next = await nextChunk()) yield next.value;
    }
    const stored = await this.storage.store(
      bytes(),
      { ownerId: user.id, contentType, size: sizeFromHeader(header) },
      () => !part.file.truncated && !reply.sent,
    );
    // Past its deadline (request-deadlines.ts) the client has had a 408 or 503: a file it believes lost is not kept. keep()
    // is asked after the last byte and after the hash is written; this catches a deadline in the last round trips.
    if (reply.sent) {
      if (stored) await this.storage.remove(stored.id);
      throw new DeadlineExceededException('The upload outlasted its deadline');
    }
    if (!stored) {
      throw new PayloadTooLargeException(
        maxBytes < this.config.media.maxBytes
          ? `Media quota reached: ${quotaBytes - used.bytes} of ${quotaBytes} bytes left`
          : `Files are limited to ${maxBytes} bytes`,
      );
    }
    this.variantsJob.enqueue(stored.id).catch((error: unknown) => {
      this.logger.warn(`Variants of ${stored.id.toHexString()} not requested now (${(error as Error).message})`);
    });
    return toView(stored);
  }

  @Public()
  @Get(':id')
  @ApiParam({ name: 'id', description: 'Media id (24 hexadecimal characters)' })
  @ApiOperation({
    summary: 'Download (or HEAD) a file or a resized variant: Range, strong ETag, Last-Modified, long-lived caching',
  })
  async download(
    @Param('id', ParseObjectIdPipe) id: Types.ObjectId,
    @Query() query: MediaDownloadQuery,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const original = await this.storage.downloadable(id);
    if (!original) throw new NotFoundException('Media not found');
    const variant = query.variant && (await this.storage.downloadable(id, query.variant));
    const pending = query.variant !== undefined && !variant;
    const maxAgeS = pending ? VARIANT_PENDING_MAX_AGE_S : this.config.media.cacheMaxAgeS;
    const cacheControl = `public, max-age=${maxAgeS}${pending ? '' : ', immutable'}`;
    await this.send(id, variant || original, cacheControl, request, reply);
  }

  private async send(
    id: Types.ObjectId,
    file: StoredFile,
    cacheControl: string,
    request: FastifyRequest,
    reply: FastifyReply,
  ) {
    const etag = `"${file.sha256}"`;
    void reply
      .header('etag', etag)
      .header('last-modified', file.uploadDate.toUTCString())
      .header('cache-control', cacheControl)
      .header('accept-ranges', 'bytes')
      .header('x-content-type-options', 'nosniff')
      .header('cross-origin-resource-policy', 'cross-origin')
      .header('content-type', file.contentType);

    if (notModified(request, reply)) {
      await reply.status(304).send();
      return;
    }
    const range = parseRange(request.headers.range, file.length);
    if (range === 'unsatisfiable') {
      // Sent here rather than thrown: the problem filter drops Content-Range, which a 416 must carry.
      dropSuccessHeaders(reply);
      await reply
        .status(416)
        .header('content-range', `bytes */${file.length}`)
        .header('content-type', PROBLEM_CONTENT_TYPE)
        .send(genericProblem(request, 416, `The range is outside the file's ${file.length} bytes`));
      return;
    }
    const length = range ? range.end - range.start + 1 : file.length;
    void reply.header('content-length', String(length));
    if (range) void reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${file.length}`);
    // For HEAD, Fastify sends the headers and discards the stream, keeping Content-Length. The stream queries its
    // first chunk only when Fastify reads it, after the request's deadline has stopped (request-deadlines.ts); reading
    // it here first made 80 of 100 concurrent 20 MiB downloads wait past the deadline for their turn on FerretDB.
    const bytes = this.storage.open(file, range);
    // Found gone behind a record this instance kept (its invalidation late or lost): drop the record here too, so the
    // next request asks the database.
    bytes.once('error', (error) => {
      if (error instanceof FileGoneError) void this.storage.forget(id);
    });
    await reply.send(bytes);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiBearerAuth()
  @ApiParam({ name: 'id', description: 'Media id (24 hexadecimal characters)' })
  @ApiOperation({ summary: 'Delete a file and its variants (owner or admin); profiles showing it drop it' })
  remove(@Param('id', ParseObjectIdPipe) id: Types.ObjectId, @CurrentUser() user: AuthenticatedUser): Promise<void> {
    return this.media.remove(id, user);
  }
}
