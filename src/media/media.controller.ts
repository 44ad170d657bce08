import { Readable } from 'node:stream';
import {
  BadRequestException,
  Controller,
  Delete,
  Get,
  HttpCode,
  Logger,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiPreconditionFailedResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiTags,
  ApiUnprocessableEntityResponse,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Types } from 'mongoose';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/decorators/current-user.decorator.js';
import { Public } from '../auth/decorators/public.decorator.js';
import { ApiObjectIdParam, ParseObjectIdPipe } from '../common/pipes/parse-object-id.pipe.js';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { dropSuccessHeaders, genericProblem, PROBLEM_CONTENT_TYPE } from '../common/problem/problem-details.js';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { DeadlineExceededException, FileUpload, timeLeftMs } from '../http/request-deadlines.js';
import { closeWithAnswer } from '../http/unread-body.js';
import { notModified } from '../http/not-modified.js';
import { Uncompressed } from '../http/uncompressed.js';
import { preconditionFailed } from '../http/precondition-failed.js';
import { parseRange, rangeStillApplies } from './byte-range.js';
import { MediaDownloadQuery } from './dto/media-download.query.js';
import { ApiMediaDownload } from './media-download.docs.js';
import { MediaFileDto } from './dto/media-file.dto.js';
import { entityTagOf, FileGoneError, FileIncompleteError, type StoredFile } from './gridfs-bucket.js';
import { readImageUpload } from './image-upload.js';
import { mediaCacheControl } from './media-cache-control.js';
import { MediaQuota } from './media-quota.js';
import { stripMetadata } from './metadata-stripping.js';
import { MediaVariantsJob } from './media-variants.job.js';
import { MediaService } from './media.service.js';
import { MediaStorage, type MediaFile } from './media.storage.js';

const toView = (file: MediaFile): MediaFileDto => ({
  id: file.id.toHexString(),
  contentType: file.contentType,
  length: file.length,
  sha256: file.sha256,
  width: file.width,
  height: file.height,
  url: `/v1/media/${file.id.toHexString()}`,
});

/** Left of an upload's deadline after its quota check, for writing its hash and answering. */
const ANSWER_MARGIN_MS = 1_000;

@ApiTags('media')
@Controller('media')
export class MediaController {
  private readonly logger = new Logger(MediaController.name);
  constructor(
    private readonly storage: MediaStorage,
    private readonly media: MediaService,
    private readonly variantsJob: MediaVariantsJob,
    private readonly quota: MediaQuota,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  @Post()
  @FileUpload()
  @ApiBearerAuth()
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    schema: { type: 'object', required: ['file'], properties: { file: { type: 'string', format: 'binary' } } },
  })
  @ApiOperation({
    summary: 'Upload an image (multipart field "file"): JPEG, PNG, WebP or GIF, decided from its bytes',
    description:
      'JPEG and PNG files are stored without their metadata (EXIF with any GPS position, XMP, IPTC, comments, text ' +
      'chunks); a JPEG keeps only its JFIF, ICC profile and Adobe segments and its EXIF orientation. WebP is stored ' +
      'without EXIF and XMP; GIF without comments, XMP and other application data but its loop count and ICC profile.',
  })
  @ApiCreatedResponse({
    type: MediaFileDto,
    headers: { Location: { description: 'The download URL', schema: { type: 'string' } } },
  })
  @ApiForbiddenResponse({ type: ProblemResponseDto, description: 'Media quota reached (number of files)' })
  @ApiPayloadTooLargeResponse({ type: ProblemResponseDto, description: 'File over the size limit or the quota' })
  @ApiUnprocessableEntityResponse({
    type: ProblemResponseDto,
    description: 'An image of more than 50 megapixels, or whose dimensions are not in its first 1 MiB',
  })
  @ApiUnsupportedMediaTypeResponse({
    type: ProblemResponseDto,
    description:
      'Not a JPEG, PNG, WebP or GIF image, or a body sent with a Content-Encoding (Accept-Encoding: identity)',
  })
  async upload(
    @CurrentUser() user: AuthenticatedUser,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<MediaFileDto> {
    try {
      return await this.receive(user.id, request, reply);
    } catch (error) {
      // Refused before the whole body came (too large, not an image, a database error while storing): nobody will
      // read the rest.
      closeWithAnswer(reply);
      throw error;
    }
  }

  private async receive(ownerId: string, request: FastifyRequest, reply: FastifyReply): Promise<MediaFileDto> {
    const room = await this.quota.room(ownerId);
    const upload = await readImageUpload(request, room, () => this.quota.tooLarge(room));
    let checked: Promise<void> | undefined;
    // Nobody will read the answer: past its deadline (request-deadlines.ts) the client has had a 408 or 503, or it
    // closed the connection after sending the last byte. A file it never learns the id of is not kept: nothing lists a
    // member's uploads, so it could be neither used nor deleted, and it would hold part of the quota for good.
    const unanswerable = () => reply.sent || request.raw.socket.destroyed;
    // Asked after the last byte is stored, and again after the hash is written.
    const keep = async (id: Types.ObjectId) => {
      if (upload.truncated() || unanswerable()) return false;
      // Its wait for other uploads ends in time to write the hash and answer before the deadline.
      checked ??= upload.rest().then(() => this.quota.assertKept(ownerId, id, timeLeftMs(request) - ANSWER_MARGIN_MS));
      await checked;
      return !unanswerable();
    };
    const meta = { ownerId, contentType: upload.contentType, size: upload.size };
    // Stored without its EXIF, XMP and text: a photo's GPS position must not reach whoever has its URL (decision 0023).
    const stored = await this.storage.store(stripMetadata(upload.contentType, upload.bytes), meta, keep);
    if (unanswerable()) {
      if (stored) await this.storage.remove(stored.id); // in the last round trip
      if (reply.sent) throw new DeadlineExceededException('The upload outlasted its deadline');
      throw new BadRequestException('The client closed the connection before the upload was answered');
    }
    if (!stored) throw this.quota.tooLarge(room);
    this.variantsJob.enqueue(stored.id).catch((error: unknown) => {
      // Refused while the queue's connection is down (whileConnected), or not confirmed in time, which Bull still sends
      // once Redis answers: either way the media cleanup asks again.
      const id = stored.id.toHexString();
      this.logger.warn(
        `Request for the variants of ${id} not confirmed (${(error as Error).message}): asked again later`,
      );
    });
    const view = toView(stored);
    void reply.header('location', view.url);
    return view;
  }

  @Public()
  @Get(':id')
  @Uncompressed()
  @ApiObjectIdParam('Media id (24 hexadecimal characters)')
  @ApiOperation({
    summary: 'Download (or HEAD) a file or a resized variant: Range, strong ETag, Last-Modified, long-lived caching',
  })
  @ApiMediaDownload()
  async download(
    @Param('id', ParseObjectIdPipe) id: Types.ObjectId,
    @Query() query: MediaDownloadQuery,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const original = await this.storage.downloadable(id);
    if (!original) throw new NotFoundException('Media not found');
    // Refused before any header goes out, where a 200 would be cut where the chunks end. MediaStorage logs the file.
    if (original.damaged) throw new FileIncompleteError('Media not found: its stored bytes are incomplete');
    // A damaged variant is one not made: the original stands in for it.
    const made = query.variant && (await this.storage.downloadable(id, query.variant));
    const variant = made && !made.damaged ? made : undefined;
    const pending = query.variant !== undefined && !variant;
    const cacheControl = mediaCacheControl(this.config.media.cacheMaxAgeS, pending);
    // The original standing in for a variant has no date of its own: the variant can be made within the second of the
    // upload, and the same Last-Modified would let a date-only revalidation keep the original (304) or a resumed
    // download splice the variant onto it (206). Its ETag tells them apart.
    const file = variant || original;
    await this.send(id, file, cacheControl, request, reply, pending ? undefined : file.uploadDate);
  }

  private async send(
    id: Types.ObjectId,
    file: StoredFile,
    cacheControl: string,
    request: FastifyRequest,
    reply: FastifyReply,
    lastModified: Date | undefined,
  ) {
    const etag = entityTagOf(file);
    if (lastModified) void reply.header('last-modified', lastModified.toUTCString());
    void reply
      .header('etag', etag)
      .header('cache-control', cacheControl)
      .header('accept-ranges', 'bytes')
      .header('cross-origin-resource-policy', 'cross-origin')
      .header('content-type', file.contentType);

    if (preconditionFailed(request.headers, etag, lastModified)) {
      dropSuccessHeaders(reply);
      await reply
        .status(412)
        .header('content-type', PROBLEM_CONTENT_TYPE)
        .send(genericProblem(request, 412, 'If-Match or If-Unmodified-Since names another version of this file'));
      return;
    }
    if (notModified(request, reply)) {
      await reply.status(304).send();
      return;
    }
    // Range is defined for GET alone, and any other method must ignore it (RFC 9110, section 14.2): a HEAD with one
    // answered 206 or 416 until 2026-12-05, and a client sizing a file with it saw the range's length.
    const range =
      request.method === 'GET' && rangeStillApplies(request.headers['if-range'], etag)
        ? parseRange(request.headers.range, file.length)
        : undefined;
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
    // A HEAD gets an empty stream: Fastify drains whatever stream a HEAD is given, and this one would read every chunk
    // of the file from the database to throw it away (an empty body would make Fastify replace our Content-Length
    // with 0). So a HEAD answers from the file's record alone, and does not notice a file whose chunks are gone
    // behind a record this instance still holds; the next GET does.
    // A GET's stream queries its first chunk only when Fastify reads it, after the request's deadline has stopped
    // (request-deadlines.ts): reading it here first made 80 of 100 concurrent 20 MiB downloads wait past the deadline
    // for their turn on FerretDB. A chunk read gives up instead once the database has answered nothing for
    // HANDLER_TIMEOUT_MS (waitForChunk), so a hung database still gets a 503 in bounded time.
    if (request.method === 'HEAD') return void (await reply.send(Readable.from([])));
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
  @ApiObjectIdParam('Media id (24 hexadecimal characters)')
  @ApiOperation({ summary: 'Delete a file and its variants (owner or admin); profiles showing it drop it' })
  @ApiNoContentResponse()
  @ApiHeader({
    name: 'If-Match',
    required: false,
    description: "ETags (strong comparison) or *: 412 unless one is the file's",
  })
  @ApiHeader({ name: 'If-None-Match', required: false, description: "412 if it names the file's ETag, or is *" })
  @ApiHeader({
    name: 'If-Unmodified-Since',
    required: false,
    description: 'Without If-Match: 412 if stored after this date',
  })
  @ApiForbiddenResponse({ type: ProblemResponseDto, description: 'Not your file' })
  @ApiNotFoundResponse({ type: ProblemResponseDto, description: 'No such file' })
  @ApiPreconditionFailedResponse({
    type: ProblemResponseDto,
    description: 'If-Match names another ETag, If-None-Match names this one or *, or If-Unmodified-Since is too early',
  })
  remove(
    @Param('id', ParseObjectIdPipe) id: Types.ObjectId,
    @CurrentUser() user: AuthenticatedUser,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    return this.media.remove(id, user, request.headers);
  }
}
