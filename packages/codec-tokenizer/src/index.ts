export { CodecError, isCodecError, type CodecErrorCode } from './errors.js';
export { type RgbImage, createRgbImage, DEFAULT_MAX_MEGAPIXELS } from './image.js';
export * from './jpeg/tables.js';
export { Marker, isRst, isStandalone, rstCode } from './jpeg/markers.js';
export * from './jpeg/frame.js';
export * from './profile.js';
export * from './bpe.js';
export * from './jpeg-header.js';
export * from './jpeglm-interop.js';
export * from './canonical.js';
export * from './canonicalize.js';
export * from './tokenizer.js';
export { JpegGrammar, type ByteGrammar, type JpegGrammarOptions } from './jpeg/grammar.js';
export { DC_LIMIT, MAX_AC_CATEGORY, MAX_DC_CATEGORY } from './jpeg/grammar-tables.js';
export type { ScanStructure } from './jpeg/grammar-tables.js';
export {
  type ChromaSubsampling,
  type JpegEncodeOptions,
  JpegEncoder,
  encodeJpeg,
  forwardTransform,
  createCanonicalFrame,
  createStandardTables,
  CANONICAL_SCAN,
  MAX_JPEG_DIMENSION,
} from './jpeg/encoder.js';
export {
  encodeScanData,
  ScanEncoder,
  deriveEncodeTable,
  type HuffmanEncodeTable,
  MAX_RESTART_INTERVAL,
} from './jpeg/entropy-encoder.js';
export { writeJpegHeaders } from './jpeg/header-writer.js';
export { readPpm, writePpm, type ReadPpmOptions } from './ppm.js';
export * from './avc/index.js';
export {
  parseJpegStructure,
  type JpegStructure,
  type JpegSegment,
  type JpegColorSpace,
  type JpegParseOptions,
} from './jpeg/segment-parser.js';
export {
  decodeScan,
  scanLayout,
  MCU_INTACT,
  MCU_DAMAGED,
  MCU_MISSING,
  MAX_REPORTED_PROBLEMS,
  type JpegProblem,
  type JpegProblemKind,
  type ScanLayout,
  type ScanDecodeResult,
} from './jpeg/scan-decoder.js';
export {
  decodeJpeg,
  decodeCoefficients,
  reconstructPixels,
  type JpegDecodeOptions,
} from './jpeg/decoder.js';
export {
  validateJpeg,
  type Verdict,
  type ValidationReport,
  type JpegValidateOptions,
} from './jpeg/validator.js';
export { repairJpeg, repairScan, type RepairFill, type RepairOptions } from './jpeg/repair.js';
export type { RepairResult } from './jpeg/repair.js';
