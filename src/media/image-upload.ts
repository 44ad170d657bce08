import {
  BadRequestException,
  HttpException,
  UnprocessableEntityException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import type { Multipart, MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { invalidField } from '../common/problem/validation-exception.factory.js';
import { UPLOADS_TAKE } from '../http/other-body-types.js';
import { MAX_IMAGE_PIXELS, SNIFF_BYTES, sizeFromHeader, sniffMediaType, type ImageSize } from './media-types.js';

/** Enough of the file to find the dimensions in most headers (a JPEG's come after its EXIF block). */
const HEADER_BYTES = 64 * 1024;
/** How far a header may hold back the dimensions (a JPEG with large metadata first) before the upload is refused. */
const MAX_HEADER_BYTES = 1024 * 1024;
/**
 * Fields beside the file are not used. More than this many, before and after it, make the upload a 413, found at the
 * latest once the rest of the body is read (the file is not kept then).
 */
const MAX_FIELDS = 16;
/**
 * The parser keeps each field's value until the request ends (the default is 1 MiB each); longer ones are cut to this,
 * or refused (400) if declared JSON.
 */
const MAX_FIELD_BYTES = 1024;

/** The one image of an upload, its type decided from its first bytes, the rest still to be read. */
export interface ImageUpload {
  contentType: string;
  /** As the header says it (see sizeFromHeader); at most MAX_IMAGE_PIXELS. */
  size: ImageSize;
  /** All of the file's bytes, the header read first included. */
  bytes: AsyncIterable<Buffer>;
  /** Whether the file ran past `maxBytes`, so the multipart limit cut it off. */
  truncated(): boolean;
  /** Reads the body after the file to its end. A second file is a 400: stored or not, it would be lost silently. */
  rest(): Promise<void>;
}

/**
 * Reads a multipart upload up to its first file, which must be the field "file", and that file's header (its first
 * 64 KiB, or up to 1 MiB until its dimensions are found): 415 unless its bytes are a JPEG, PNG, WebP or GIF, or
 * `tooLarge()` if they were cut off at `maxBytes` before they said; 422 when it declares more than MAX_IMAGE_PIXELS or
 * its dimensions cannot be found. A small file can declare a canvas that takes gigabytes to decode: stored, it would
 * reach every app that shows it. Fields before the file are skipped.
 */
export async function readImageUpload(
  request: FastifyRequest,
  maxBytes: number,
  tooLarge: () => HttpException,
): Promise<ImageUpload> {
  if (!request.isMultipart()) {
    // A JSON body comes this far (JSON has a parser of its own; other types are refused unread, other-body-types.ts).
    const type = request.headers['content-type']?.split(';')[0]?.trim();
    if (type) throw new UnsupportedMediaTypeException(`${UPLOADS_TAKE}, not ${type}`);
    throw new BadRequestException('Send multipart/form-data with a "file" field');
  }
  // Gone already (the client left, or had its answer at the deadline while the quota was read): the multipart parser
  // would wait for the end of a body that will never come.
  if (request.raw.destroyed) throw new BadRequestException('The request was closed before its body was read');
  // Not request.file(): it leaves the parts after the first file unread, so a second file went unnoticed.
  const parts = request.parts({
    limits: { fileSize: maxBytes, files: 1, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES },
  });
  const part = await firstFile(parts);
  if (!part || part.fieldname !== 'file') throw invalidField('file', 'Send the file in a "file" field');

  const iterator = part.file[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // Cut off at maxBytes, the file ends here for us: the parser goes on reading the rest of its part, however long,
  // only to throw it away, and the answer (413) would wait for it. A read already waiting when the limit is reached
  // (the last chunk ended exactly on it) would wait for that too, so the limit also ends a read in progress.
  // A listener per read, removed once the read settles: raced against one promise that never settles (no limit
  // reached), every read's chunk stayed reachable from that promise's reactions until the request ended, so until
  // 2026-12-06 an upload held its whole file (64 MiB for a 64 MiB upload).
  const cutOff = () => part.file.truncated;
  const nextChunk = async (): Promise<IteratorResult<Buffer>> => {
    if (cutOff()) return { done: true, value: undefined };
    let onLimit = () => {};
    const limitReached = new Promise<IteratorResult<Buffer>>((resolve) => {
      onLimit = () => resolve({ done: true, value: undefined });
      part.file.once('limit', onLimit);
    });
    try {
      return await Promise.race([parsed(iterator.next()), limitReached]);
    } finally {
      part.file.off('limit', onLimit);
    }
  };
  const head: Buffer[] = [];
  let headLength = 0;
  let ended = false;
  /** Reads on until the head holds `bytes`, the file ends or the limit cuts it off; returns the head. */
  const readHead = async (bytes: number): Promise<Buffer> => {
    while (headLength < bytes && !ended && !cutOff()) {
      const next = await nextChunk();
      if (next.done) ended = true;
      else {
        head.push(next.value);
        headLength += next.value.length;
      }
    }
    return Buffer.concat(head);
  };
  let header = await readHead(HEADER_BYTES);
  const contentType = await sniffMediaType(header.subarray(0, SNIFF_BYTES));
  if (!contentType) {
    if (cutOff()) throw tooLarge();
    throw new UnsupportedMediaTypeException('Only JPEG, PNG, WebP and GIF images are accepted');
  }
  let size = sizeFromHeader(header);
  while (!size && headLength < MAX_HEADER_BYTES && !ended && !cutOff()) {
    header = await readHead(headLength + HEADER_BYTES);
    // Within the first MAX_HEADER_BYTES only: the last chunk read may reach past them, by as much as the socket
    // delivered at once, and whether a file was refused must not depend on how its bytes arrived.
    size = sizeFromHeader(header.subarray(0, MAX_HEADER_BYTES));
  }
  async function* bytes(): AsyncGenerator<Buffer> {
    yield* head;
    if (ended || cutOff()) return;
    for (let next = await nextChunk(); !next.done; next = await nextChunk()) {
      yield next.value;
      if (cutOff()) return;
    }
  }
  return {
    contentType,
    size: allowed(size, cutOff, tooLarge),
    bytes: bytes(),
    truncated: cutOff,
    rest: () => noMoreFiles(parts),
  };
}

/** The size found in the header, unless none was (the limit's 413 when it cut the header off) or it is too large. */
function allowed(size: ImageSize | undefined, cutOff: () => boolean, tooLarge: () => HttpException): ImageSize {
  if (!size) {
    if (cutOff()) throw tooLarge();
    throw new UnprocessableEntityException(
      `The image's dimensions could not be read from its first ${MAX_HEADER_BYTES / 2 ** 20} MiB`,
    );
  }
  if (size.width * size.height > MAX_IMAGE_PIXELS)
    throw new UnprocessableEntityException(
      `The image is ${size.width} × ${size.height} pixels; at most ${MAX_IMAGE_PIXELS / 1e6} megapixels are accepted`,
    );
  return size;
}

/** Next() by hand, not for-await: leaving a for-await loop would end the iterator, and rest() still needs it. */
async function firstFile(parts: AsyncIterableIterator<Multipart>): Promise<MultipartFile | undefined> {
  for (let next = await parsed(parts.next()); !next.done; next = await parsed(parts.next())) {
    if (next.value.type === 'file') return next.value;
  }
  return undefined;
}

async function noMoreFiles(parts: AsyncIterableIterator<Multipart>): Promise<void> {
  try {
    while (!(await parsed(parts.next())).done);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'FST_FILES_LIMIT') throw error;
    throw invalidField('file', 'Send one file per upload: this body holds more than one');
  }
}

/**
 * What the multipart parser refuses is the body's fault, so a 400: no boundary, a body that ends mid-part, a field
 * declared JSON that is not (the parser's own status for that is 406), a part named after an Object.prototype property.
 * Its limits (files, fields, parts, file size) keep their 413.
 */
async function parsed<T>(reading: Promise<T>): Promise<T> {
  try {
    return await reading;
  } catch (error) {
    if (error instanceof HttpException || (error as { statusCode?: unknown }).statusCode === 413) throw error;
    throw new BadRequestException(`Malformed multipart body: ${(error as Error).message}`);
  }
}
