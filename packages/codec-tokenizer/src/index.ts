export { CodecError, isCodecError, type CodecErrorCode } from './errors.js';
export { type RgbImage, createRgbImage, DEFAULT_MAX_MEGAPIXELS } from './image.js';
export * from './jpeg/tables.js';
export { Marker, isRst, isStandalone, rstCode } from './jpeg/markers.js';
export * from './jpeg/frame.js';
export * from './profile.js';
export * from './bpe.js';
export * from './jpeg-header.js';
export * from './jpeglm-interop.js';
