/**
 * Sequence parameter set RBSP (H.264 7.3.2.1.1) with the VUI (E.1.1), and the derived picture
 * geometry (7.4.2.1.1).
 */
import { CodecError } from '../errors.js';
import { AvcBitReader } from './bitstream.js';

export interface AvcVui {
  readonly aspectRatioIdc: number | undefined;
  readonly sarWidth: number | undefined;
  readonly sarHeight: number | undefined;
  readonly videoFullRange: boolean;
  readonly colourPrimaries: number | undefined;
  readonly transferCharacteristics: number | undefined;
  readonly matrixCoefficients: number | undefined;
  readonly chromaLocTypeTop: number | undefined;
  readonly numUnitsInTick: number | undefined;
  readonly timeScale: number | undefined;
  readonly fixedFrameRate: boolean;
  readonly maxNumReorderFrames: number | undefined;
  readonly maxDecFrameBuffering: number | undefined;
}

export interface AvcSps {
  readonly profileIdc: number;
  /** constraint_set0_flag..constraint_set5_flag as bits 5..0 of one number. */
  readonly constraintFlags: number;
  readonly levelIdc: number;
  readonly id: number;
  readonly chromaFormatIdc: number;
  readonly separateColourPlane: boolean;
  readonly bitDepthLuma: number;
  readonly bitDepthChroma: number;
  readonly log2MaxFrameNum: number;
  readonly picOrderCntType: number;
  readonly log2MaxPicOrderCntLsb: number;
  readonly deltaPicOrderAlwaysZero: boolean;
  readonly maxNumRefFrames: number;
  readonly gapsInFrameNumAllowed: boolean;
  readonly picWidthInMbs: number;
  readonly picHeightInMapUnits: number;
  readonly frameMbsOnly: boolean;
  readonly direct8x8Inference: boolean;
  /** frame_crop_{left,right,top,bottom}_offset, in crop units. */
  readonly crop: readonly [number, number, number, number];
  readonly vui: AvcVui | undefined;
  /** Derived (7.4.2.1.1). */
  readonly frameHeightInMbs: number;
  readonly picSizeInMbs: number;
  readonly width: number;
  readonly height: number;
}

/** profile_idc values whose SPS carries chroma_format_idc and bit depths (7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function range(name: string, v: number, lo: number, hi: number): number {
  if (v < lo || v > hi) {
    throw new CodecError('corrupt', `SPS: ${name} = ${v} is outside ${lo}..${hi}`);
  }
  return v;
}

/** scaling_list() (7.3.2.1.1.1): only parsed to be skipped; the values are not needed here. */
export function avcSkipScalingList(r: AvcBitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      const delta = r.se();
      if (delta < -128 || delta > 127) {
        throw new CodecError('corrupt', `scaling list delta_scale ${delta} is outside -128..127`);
      }
      next = (last + delta + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

function skipHrd(r: AvcBitReader): void {
  const cpbCnt = range('cpb_cnt_minus1', r.ue(), 0, 31) + 1;
  r.skip(8); // bit_rate_scale, cpb_size_scale
  for (let i = 0; i < cpbCnt; i++) {
    r.ue();
    r.ue();
    r.u1();
  }
  r.skip(20); // four 5-bit delay/length fields
}

function parseVui(r: AvcBitReader): AvcVui {
  let aspectRatioIdc: number | undefined;
  let sarWidth: number | undefined;
  let sarHeight: number | undefined;
  if (r.u1()) {
    aspectRatioIdc = r.u(8);
    if (aspectRatioIdc === 255) {
      sarWidth = r.u(16);
      sarHeight = r.u(16);
    }
  }
  if (r.u1()) r.u1(); // overscan_info_present_flag, overscan_appropriate_flag
  let videoFullRange = false;
  let colourPrimaries: number | undefined;
  let transferCharacteristics: number | undefined;
  let matrixCoefficients: number | undefined;
  if (r.u1()) {
    r.u(3); // video_format
    videoFullRange = r.u1() === 1;
    if (r.u1()) {
      colourPrimaries = r.u(8);
      transferCharacteristics = r.u(8);
      matrixCoefficients = r.u(8);
    }
  }
  let chromaLocTypeTop: number | undefined;
  if (r.u1()) {
    chromaLocTypeTop = r.ue();
    r.ue();
  }
  let numUnitsInTick: number | undefined;
  let timeScale: number | undefined;
  let fixedFrameRate = false;
  if (r.u1()) {
    numUnitsInTick = r.u(32);
    timeScale = r.u(32);
    fixedFrameRate = r.u1() === 1;
  }
  const nalHrd = r.u1();
  if (nalHrd) skipHrd(r);
  const vclHrd = r.u1();
  if (vclHrd) skipHrd(r);
  if (nalHrd || vclHrd) r.u1(); // low_delay_hrd_flag
  r.u1(); // pic_struct_present_flag
  let maxNumReorderFrames: number | undefined;
  let maxDecFrameBuffering: number | undefined;
  if (r.u1()) {
    r.u1(); // motion_vectors_over_pic_boundaries_flag
    r.ue(); // max_bytes_per_pic_denom
    r.ue(); // max_bits_per_mb_denom
    r.ue(); // log2_max_mv_length_horizontal
    r.ue(); // log2_max_mv_length_vertical
    maxNumReorderFrames = r.ue();
    maxDecFrameBuffering = r.ue();
  }
  return {
    aspectRatioIdc,
    sarWidth,
    sarHeight,
    videoFullRange,
    colourPrimaries,
    transferCharacteristics,
    matrixCoefficients,
    chromaLocTypeTop,
    numUnitsInTick,
    timeScale,
    fixedFrameRate,
    maxNumReorderFrames,
    maxDecFrameBuffering,
  };
}

/** Parse an SPS from its RBSP (the bytes after the NAL header, emulation prevention removed). */
export function avcParseSps(rbsp: Uint8Array): AvcSps {
  const r = new AvcBitReader(rbsp, 'SPS');
  const profileIdc = r.u(8);
  const constraintFlags = r.u(6);
  r.u(2); // reserved_zero_2bits
  const levelIdc = r.u(8);
  const id = range('seq_parameter_set_id', r.ue(), 0, 31);
  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  let bitDepthLuma = 8;
  let bitDepthChroma = 8;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = range('chroma_format_idc', r.ue(), 0, 3);
    if (chromaFormatIdc === 3) separateColourPlane = r.u1() === 1;
    bitDepthLuma = range('bit_depth_luma_minus8', r.ue(), 0, 6) + 8;
    bitDepthChroma = range('bit_depth_chroma_minus8', r.ue(), 0, 6) + 8;
    r.u1(); // qpprime_y_zero_transform_bypass_flag
    if (r.u1()) {
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) if (r.u1()) avcSkipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  const log2MaxFrameNum = range('log2_max_frame_num_minus4', r.ue(), 0, 12) + 4;
  const picOrderCntType = range('pic_order_cnt_type', r.ue(), 0, 2);
  let log2MaxPicOrderCntLsb = 0;
  let deltaPicOrderAlwaysZero = false;
  if (picOrderCntType === 0) {
    log2MaxPicOrderCntLsb = range('log2_max_pic_order_cnt_lsb_minus4', r.ue(), 0, 12) + 4;
  } else if (picOrderCntType === 1) {
    deltaPicOrderAlwaysZero = r.u1() === 1;
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = range('num_ref_frames_in_pic_order_cnt_cycle', r.ue(), 0, 255);
    for (let i = 0; i < cycle; i++) r.se();
  }
  const maxNumRefFrames = range('max_num_ref_frames', r.ue(), 0, 16);
  const gapsInFrameNumAllowed = r.u1() === 1;
  const picWidthInMbs = range('pic_width_in_mbs_minus1', r.ue(), 0, 1023) + 1;
  const picHeightInMapUnits = range('pic_height_in_map_units_minus1', r.ue(), 0, 1023) + 1;
  const frameMbsOnly = r.u1() === 1;
  if (!frameMbsOnly) r.u1(); // mb_adaptive_frame_field_flag
  const direct8x8Inference = r.u1() === 1;
  let crop: [number, number, number, number] = [0, 0, 0, 0];
  if (r.u1()) crop = [r.ue(), r.ue(), r.ue(), r.ue()];
  const vui = r.u1() ? parseVui(r) : undefined;
  if (!r.atTrailingBits()) throw new CodecError('corrupt', 'SPS: missing rbsp_trailing_bits');

  const frameHeightInMbs = (frameMbsOnly ? 1 : 2) * picHeightInMapUnits;
  // Crop units (7-19..7-22): chroma subsampling for 4:2:0/4:2:2, doubled vertically for fields.
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const subWidthC = chromaFormatIdc === 3 ? 1 : 2;
  const subHeightC = chromaFormatIdc === 1 ? 2 : 1;
  const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
  const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (frameMbsOnly ? 1 : 2);
  const width = picWidthInMbs * 16 - cropUnitX * (crop[0] + crop[1]);
  const height = frameHeightInMbs * 16 - cropUnitY * (crop[2] + crop[3]);
  if (width <= 0 || height <= 0) {
    throw new CodecError('corrupt', `SPS: cropping leaves an empty ${width}x${height} picture`);
  }
  return {
    profileIdc,
    constraintFlags,
    levelIdc,
    id,
    chromaFormatIdc,
    separateColourPlane,
    bitDepthLuma,
    bitDepthChroma,
    log2MaxFrameNum,
    picOrderCntType,
    log2MaxPicOrderCntLsb,
    deltaPicOrderAlwaysZero,
    maxNumRefFrames,
    gapsInFrameNumAllowed,
    picWidthInMbs,
    picHeightInMapUnits,
    frameMbsOnly,
    direct8x8Inference,
    crop,
    vui,
    frameHeightInMbs,
    picSizeInMbs: picWidthInMbs * frameHeightInMbs,
    width,
    height,
  };
}
