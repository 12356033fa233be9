export {
  AvcNalType,
  avcBuildUnit,
  avcConcat,
  avcEscapeRbsp,
  avcFindEmulationViolation,
  avcSplitNalUnits,
  avcTrailingBytes,
  avcUnescapeRbsp,
  avcUnitBytes,
  avcUnitRbsp,
  type AvcNalUnit,
  type AvcSplitResult,
} from './annexb.js';
export { AvcBitReader, AvcBitWriter } from './bitstream.js';
export { avcParseSps, type AvcSps, type AvcVui } from './sps.js';
export { avcParsePps, type AvcPps } from './pps.js';
export {
  AvcSliceType,
  avcParseSliceHeader,
  avcSliceKind,
  avcWriteSliceHeader,
  type AvcMmco,
  type AvcPredWeight,
  type AvcRefPicListModification,
  type AvcSliceHeader,
} from './slice-header.js';
export {
  avcCheckSliceData,
  avcConcealmentSlice,
  avcRewriteSliceHeader,
  avcStopBit,
} from './slice-data.js';
export {
  FFMPEG_ENV,
  bundledFfmpegPath,
  ffmpegErrorLine,
  ffmpegLogLines,
  ffmpegVersion,
  resolveFfmpeg,
  runFfmpeg,
  runFfmpegChecked,
  type FfmpegOptions,
  type FfmpegResult,
  type FfmpegRunOptions,
} from './ffmpeg.js';
export {
  AVC_LM_256X144,
  AVC_X264_FIXED_PARAMS,
  DEFAULT_AVC_PROFILE,
  avcEncode,
  avcEncodeArgs,
  avcFilterGraph,
  avcProfile,
  avcProfileMbs,
  makeAvcProfile,
  type AvcEncodeOptions,
  type AvcProfile,
  type AvcProfileSpec,
  type AvcSource,
} from './profile.js';
export {
  avcFirstMbOf,
  avcHeaderFromStream,
  avcProfileHeader,
  avcRestoreHeaders,
  avcSameBytes,
  avcStripHeaders,
  isAvcVcl,
  type AvcHeader,
} from './header.js';
export {
  avcAnalyze,
  type AvcAnalysis,
  type AvcAnalyzeOptions,
  type AvcIssue,
  type AvcIssueCode,
  type AvcPicture,
  type AvcSlice,
} from './structure.js';
export {
  avcDecodeCheck,
  avcErrorMacroblocks,
  avcFirstBadPicture,
  type AvcDecodeCheckOptions,
  type AvcDecodeReport,
} from './decode-check.js';
export {
  avcValidate,
  type AvcValidateOptions,
  type AvcValidation,
  type AvcValidity,
} from './validator.js';
export {
  avcRepair,
  type AvcRepairOptions,
  type AvcRepairResult,
  type AvcRepairStats,
} from './repair.js';
export { avcKeepFrames, avcPictureOffset } from './prompt.js';
export { avcRender, type AvcRenderFormat, type AvcRenderOptions } from './render.js';
export {
  AVC_TOKENIZER_FORMAT,
  AVC_TOKENIZER_VERSION,
  AVC_TOKENS_FORMAT,
  AVC_TOKENS_VERSION,
  AvcTokenizer,
  makeAvcTokensFile,
  readAvcTokensFile,
  type AvcTokensFile,
  type AvcParsedSequence,
  type AvcTokenizeOptions,
  type AvcTokenizerFile,
} from './tokenizer.js';
