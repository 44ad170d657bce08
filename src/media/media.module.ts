import { Module } from '@nestjs/common';
import { MediaController } from './media.controller.js';
import { MediaStorage } from './media.storage.js';

/** Uploads and downloads through GridFS (bucket `media`). */
@Module({ controllers: [MediaController], providers: [MediaStorage] })
export class MediaModule {}
