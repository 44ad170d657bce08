import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'vesta:isPublic';

/** Opens a route to callers without a token; everything else requires one. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);
