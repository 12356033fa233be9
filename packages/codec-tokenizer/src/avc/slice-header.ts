/**
 * Slice headers (H.264 7.3.3, semantics 7.4.3): parsing, range checks, and bit-exact rewriting
 * (used by repair to renumber frames and to build concealment slices).
 */
import { CodecError } from '../errors.js';
import { AvcBitReader, AvcBitWriter } from './bitstream.js';
import type { AvcPps } from './pps.js';
import type { AvcSps } from './sps.js';
import { AvcNalType } from './annexb.js';

/** slice_type % 5 (Table 7-6). Values 5..9 also say every slice of the picture has this type. */
export const AvcSliceType = { P: 0, B: 1, I: 2, SP: 3, SI: 4 } as const;

export interface AvcRefPicListModification {
  readonly idc: number;
  readonly value: number;
}

export interface AvcMmco {
  readonly op: number;
  readonly a: number;
  readonly b: number;
}

export interface AvcPredWeight {
  readonly luma: { readonly weight: number; readonly offset: number } | undefined;
  readonly chroma:
    readonly [{ weight: number; offset: number }, { weight: number; offset: number }] | undefined;
}

export interface AvcSliceHeader {
  readonly nalType: number;
  readonly refIdc: number;
  readonly firstMbInSlice: number;
  /** slice_type as coded (0..9). */
  readonly sliceType: number;
  readonly ppsId: number;
  readonly colourPlaneId: number;
  readonly frameNum: number;
  readonly fieldPic: boolean;
  readonly bottomField: boolean;
  readonly idrPicId: number;
  readonly picOrderCntLsb: number;
  readonly deltaPicOrderCntBottom: number;
  readonly deltaPicOrderCnt: readonly [number, number];
  readonly redundantPicCnt: number;
  readonly directSpatialMvPred: boolean;
  readonly numRefIdxActiveOverride: boolean;
  readonly numRefIdxL0Active: number;
  readonly numRefIdxL1Active: number;
  readonly refPicListModificationL0: readonly AvcRefPicListModification[] | undefined;
  readonly refPicListModificationL1: readonly AvcRefPicListModification[] | undefined;
  readonly predWeightTable:
    | {
        readonly lumaLog2Denom: number;
        readonly chromaLog2Denom: number;
        readonly l0: readonly AvcPredWeight[];
        readonly l1: readonly AvcPredWeight[];
      }
    | undefined;
  readonly noOutputOfPriorPics: boolean;
  readonly longTermReference: boolean;
  /** dec_ref_pic_marking of a non-IDR reference picture; undefined = sliding window. */
  readonly mmcos: readonly AvcMmco[] | undefined;
  readonly cabacInitIdc: number;
  readonly sliceQpDelta: number;
  readonly spForSwitch: boolean;
  readonly sliceQsDelta: number;
  readonly disableDeblockingFilterIdc: number;
  readonly sliceAlphaC0OffsetDiv2: number;
  readonly sliceBetaOffsetDiv2: number;
  readonly sliceGroupChangeCycle: number;
  /** Bits from the start of the RBSP to the first bit of slice_data(). */
  readonly headerBits: number;
}

export function avcSliceKind(sliceType: number): number {
  return sliceType % 5;
}

function check(name: string, v: number, lo: number, hi: number): number {
  if (!(v >= lo && v <= hi)) {
    throw new CodecError('corrupt', `slice header: ${name} = ${v} is outside ${lo}..${hi}`);
  }
  return v;
}

function sliceGroupChangeCycleBits(sps: AvcSps, pps: AvcPps): number {
  const picSizeInMapUnits = sps.picWidthInMbs * sps.picHeightInMapUnits;
  return Math.ceil(Math.log2(Math.floor(picSizeInMapUnits / pps.sliceGroupChangeRate) + 1));
}

function readModifications(r: AvcBitReader, maxPicNum: number): AvcRefPicListModification[] {
  const out: AvcRefPicListModification[] = [];
  for (;;) {
    const idc = check('modification_of_pic_nums_idc', r.ue(), 0, 3);
    if (idc === 3) return out;
    // abs_diff_pic_num_minus1 < MaxPicNum (7.4.3.1); long_term_pic_num is bounded the same way.
    const value = check(
      idc < 2 ? 'abs_diff_pic_num_minus1' : 'long_term_pic_num',
      r.ue(),
      0,
      maxPicNum - 1,
    );
    out.push({ idc, value });
    if (out.length > 64)
      throw new CodecError('corrupt', 'slice header: endless ref_pic_list_modification');
  }
}

function readWeights(r: AvcBitReader, n: number, chroma: boolean): AvcPredWeight[] {
  const out: AvcPredWeight[] = [];
  for (let i = 0; i < n; i++) {
    const luma = r.u1()
      ? {
          weight: check('luma_weight', r.se(), -128, 127),
          offset: check('luma_offset', r.se(), -128, 127),
        }
      : undefined;
    let c: AvcPredWeight['chroma'];
    if (chroma && r.u1()) {
      c = [
        {
          weight: check('chroma_weight', r.se(), -128, 127),
          offset: check('chroma_offset', r.se(), -128, 127),
        },
        {
          weight: check('chroma_weight', r.se(), -128, 127),
          offset: check('chroma_offset', r.se(), -128, 127),
        },
      ];
    }
    out.push({ luma, chroma: c });
  }
  return out;
}

/**
 * Parse the slice header at the start of a slice NAL unit's RBSP (7.3.3), checking every value
 * against its range in 7.4.3. Throws CodecError ('corrupt' or 'truncated') on the first problem.
 */
export function avcParseSliceHeader(
  rbsp: Uint8Array,
  nalType: number,
  refIdc: number,
  sps: AvcSps,
  pps: AvcPps,
): AvcSliceHeader {
  const r = new AvcBitReader(rbsp, 'slice header');
  const idr = nalType === AvcNalType.idrSlice;
  const firstMbInSlice = check('first_mb_in_slice', r.ue(), 0, sps.picSizeInMbs - 1);
  const sliceType = check('slice_type', r.ue(), 0, 9);
  const kind = sliceType % 5;
  const ppsId = r.ue();
  if (ppsId !== pps.id) {
    throw new CodecError('corrupt', `slice header: pic_parameter_set_id ${ppsId} is not ${pps.id}`);
  }
  if (idr && kind !== AvcSliceType.I && kind !== AvcSliceType.SI) {
    throw new CodecError('corrupt', `slice header: IDR slice has slice_type ${sliceType}`);
  }
  const colourPlaneId = sps.separateColourPlane ? r.u(2) : 0;
  const frameNum = r.u(sps.log2MaxFrameNum);
  if (idr && frameNum !== 0)
    throw new CodecError('corrupt', `slice header: IDR frame_num ${frameNum} is not 0`);
  let fieldPic = false;
  let bottomField = false;
  if (!sps.frameMbsOnly) {
    fieldPic = r.u1() === 1;
    if (fieldPic) bottomField = r.u1() === 1;
  }
  const idrPicId = idr ? check('idr_pic_id', r.ue(), 0, 65535) : 0;
  let picOrderCntLsb = 0;
  let deltaPicOrderCntBottom = 0;
  const deltaPicOrderCnt: [number, number] = [0, 0];
  if (sps.picOrderCntType === 0) {
    picOrderCntLsb = r.u(sps.log2MaxPicOrderCntLsb);
    if (pps.bottomFieldPicOrderInFramePresent && !fieldPic) deltaPicOrderCntBottom = r.se();
  }
  if (sps.picOrderCntType === 1 && !sps.deltaPicOrderAlwaysZero) {
    deltaPicOrderCnt[0] = r.se();
    if (pps.bottomFieldPicOrderInFramePresent && !fieldPic) deltaPicOrderCnt[1] = r.se();
  }
  const redundantPicCnt = pps.redundantPicCntPresent
    ? check('redundant_pic_cnt', r.ue(), 0, 127)
    : 0;
  const directSpatialMvPred = kind === AvcSliceType.B ? r.u1() === 1 : false;
  let numRefIdxActiveOverride = false;
  let numRefIdxL0Active = pps.numRefIdxL0DefaultActive;
  let numRefIdxL1Active = pps.numRefIdxL1DefaultActive;
  const maxRefIdx = fieldPic ? 32 : 16;
  if (kind === AvcSliceType.P || kind === AvcSliceType.SP || kind === AvcSliceType.B) {
    numRefIdxActiveOverride = r.u1() === 1;
    if (numRefIdxActiveOverride) {
      numRefIdxL0Active = check('num_ref_idx_l0_active_minus1', r.ue(), 0, maxRefIdx - 1) + 1;
      if (kind === AvcSliceType.B) {
        numRefIdxL1Active = check('num_ref_idx_l1_active_minus1', r.ue(), 0, maxRefIdx - 1) + 1;
      }
    }
    check('num_ref_idx_l0_active', numRefIdxL0Active, 1, maxRefIdx);
  }
  const maxPicNum = (fieldPic ? 2 : 1) * 2 ** sps.log2MaxFrameNum;
  let refPicListModificationL0: AvcRefPicListModification[] | undefined;
  let refPicListModificationL1: AvcRefPicListModification[] | undefined;
  if (kind !== AvcSliceType.I && kind !== AvcSliceType.SI) {
    if (r.u1()) refPicListModificationL0 = readModifications(r, maxPicNum);
    if (kind === AvcSliceType.B && r.u1())
      refPicListModificationL1 = readModifications(r, maxPicNum);
  }
  let predWeightTable: AvcSliceHeader['predWeightTable'];
  if (
    (pps.weightedPred && (kind === AvcSliceType.P || kind === AvcSliceType.SP)) ||
    (pps.weightedBipredIdc === 1 && kind === AvcSliceType.B)
  ) {
    const chroma = !sps.separateColourPlane && sps.chromaFormatIdc !== 0;
    const lumaLog2Denom = check('luma_log2_weight_denom', r.ue(), 0, 7);
    const chromaLog2Denom = chroma ? check('chroma_log2_weight_denom', r.ue(), 0, 7) : 0;
    const l0 = readWeights(r, numRefIdxL0Active, chroma);
    const l1 = kind === AvcSliceType.B ? readWeights(r, numRefIdxL1Active, chroma) : [];
    predWeightTable = { lumaLog2Denom, chromaLog2Denom, l0, l1 };
  }
  let noOutputOfPriorPics = false;
  let longTermReference = false;
  let mmcos: AvcMmco[] | undefined;
  if (refIdc !== 0) {
    if (idr) {
      noOutputOfPriorPics = r.u1() === 1;
      longTermReference = r.u1() === 1;
    } else if (r.u1()) {
      mmcos = [];
      for (;;) {
        const op = check('memory_management_control_operation', r.ue(), 0, 6);
        if (op === 0) break;
        let a = 0;
        let b = 0;
        if (op === 1 || op === 3)
          a = check('difference_of_pic_nums_minus1', r.ue(), 0, maxPicNum - 1);
        if (op === 2) a = check('long_term_pic_num', r.ue(), 0, maxPicNum - 1);
        if (op === 3 || op === 6) b = check('long_term_frame_idx', r.ue(), 0, sps.maxNumRefFrames);
        if (op === 4) a = check('max_long_term_frame_idx_plus1', r.ue(), 0, sps.maxNumRefFrames);
        mmcos.push({ op, a, b });
        if (mmcos.length > 66)
          throw new CodecError('corrupt', 'slice header: endless dec_ref_pic_marking');
      }
    }
  }
  const cabacInitIdc =
    pps.entropyCodingMode && kind !== AvcSliceType.I && kind !== AvcSliceType.SI
      ? check('cabac_init_idc', r.ue(), 0, 2)
      : 0;
  const qpBdOffset = 6 * (sps.bitDepthLuma - 8);
  const sliceQpDelta = r.se();
  check('SliceQPY', pps.picInitQp + sliceQpDelta, -qpBdOffset, 51);
  let spForSwitch = false;
  let sliceQsDelta = 0;
  if (kind === AvcSliceType.SP || kind === AvcSliceType.SI) {
    if (kind === AvcSliceType.SP) spForSwitch = r.u1() === 1;
    sliceQsDelta = r.se();
    check('QSY', pps.picInitQs + sliceQsDelta, 0, 51);
  }
  let disableDeblockingFilterIdc = 0;
  let sliceAlphaC0OffsetDiv2 = 0;
  let sliceBetaOffsetDiv2 = 0;
  if (pps.deblockingFilterControlPresent) {
    disableDeblockingFilterIdc = check('disable_deblocking_filter_idc', r.ue(), 0, 2);
    if (disableDeblockingFilterIdc !== 1) {
      sliceAlphaC0OffsetDiv2 = check('slice_alpha_c0_offset_div2', r.se(), -6, 6);
      sliceBetaOffsetDiv2 = check('slice_beta_offset_div2', r.se(), -6, 6);
    }
  }
  let sliceGroupChangeCycle = 0;
  if (pps.numSliceGroups > 1 && pps.sliceGroupMapType >= 3 && pps.sliceGroupMapType <= 5) {
    sliceGroupChangeCycle = r.u(sliceGroupChangeCycleBits(sps, pps));
  }
  return {
    nalType,
    refIdc,
    firstMbInSlice,
    sliceType,
    ppsId,
    colourPlaneId,
    frameNum,
    fieldPic,
    bottomField,
    idrPicId,
    picOrderCntLsb,
    deltaPicOrderCntBottom,
    deltaPicOrderCnt,
    redundantPicCnt,
    directSpatialMvPred,
    numRefIdxActiveOverride,
    numRefIdxL0Active,
    numRefIdxL1Active,
    refPicListModificationL0,
    refPicListModificationL1,
    predWeightTable,
    noOutputOfPriorPics,
    longTermReference,
    mmcos,
    cabacInitIdc,
    sliceQpDelta,
    spForSwitch,
    sliceQsDelta,
    disableDeblockingFilterIdc,
    sliceAlphaC0OffsetDiv2,
    sliceBetaOffsetDiv2,
    sliceGroupChangeCycle,
    headerBits: r.bitPosition,
  };
}

function writeModifications(
  w: AvcBitWriter,
  mods: readonly AvcRefPicListModification[] | undefined,
): void {
  w.u1(mods === undefined ? 0 : 1);
  if (mods === undefined) return;
  for (const m of mods) {
    w.ue(m.idc);
    w.ue(m.value);
  }
  w.ue(3);
}

function writeWeights(w: AvcBitWriter, list: readonly AvcPredWeight[], chroma: boolean): void {
  for (const e of list) {
    w.u1(e.luma ? 1 : 0);
    if (e.luma) {
      w.se(e.luma.weight);
      w.se(e.luma.offset);
    }
    if (chroma) {
      w.u1(e.chroma ? 1 : 0);
      if (e.chroma) {
        for (const c of e.chroma) {
          w.se(c.weight);
          w.se(c.offset);
        }
      }
    }
  }
}

/** Write a slice header (7.3.3) exactly as avcParseSliceHeader reads it. */
export function avcWriteSliceHeader(
  w: AvcBitWriter,
  h: AvcSliceHeader,
  sps: AvcSps,
  pps: AvcPps,
): void {
  const idr = h.nalType === AvcNalType.idrSlice;
  const kind = h.sliceType % 5;
  w.ue(h.firstMbInSlice);
  w.ue(h.sliceType);
  w.ue(h.ppsId);
  if (sps.separateColourPlane) w.u(2, h.colourPlaneId);
  w.u(sps.log2MaxFrameNum, h.frameNum);
  if (!sps.frameMbsOnly) {
    w.u1(h.fieldPic ? 1 : 0);
    if (h.fieldPic) w.u1(h.bottomField ? 1 : 0);
  }
  if (idr) w.ue(h.idrPicId);
  if (sps.picOrderCntType === 0) {
    w.u(sps.log2MaxPicOrderCntLsb, h.picOrderCntLsb);
    if (pps.bottomFieldPicOrderInFramePresent && !h.fieldPic) w.se(h.deltaPicOrderCntBottom);
  }
  if (sps.picOrderCntType === 1 && !sps.deltaPicOrderAlwaysZero) {
    w.se(h.deltaPicOrderCnt[0]);
    if (pps.bottomFieldPicOrderInFramePresent && !h.fieldPic) w.se(h.deltaPicOrderCnt[1]);
  }
  if (pps.redundantPicCntPresent) w.ue(h.redundantPicCnt);
  if (kind === AvcSliceType.B) w.u1(h.directSpatialMvPred ? 1 : 0);
  if (kind === AvcSliceType.P || kind === AvcSliceType.SP || kind === AvcSliceType.B) {
    w.u1(h.numRefIdxActiveOverride ? 1 : 0);
    if (h.numRefIdxActiveOverride) {
      w.ue(h.numRefIdxL0Active - 1);
      if (kind === AvcSliceType.B) w.ue(h.numRefIdxL1Active - 1);
    }
  }
  if (kind !== AvcSliceType.I && kind !== AvcSliceType.SI) {
    writeModifications(w, h.refPicListModificationL0);
    if (kind === AvcSliceType.B) writeModifications(w, h.refPicListModificationL1);
  }
  if (h.predWeightTable) {
    const chroma = !sps.separateColourPlane && sps.chromaFormatIdc !== 0;
    w.ue(h.predWeightTable.lumaLog2Denom);
    if (chroma) w.ue(h.predWeightTable.chromaLog2Denom);
    writeWeights(w, h.predWeightTable.l0, chroma);
    if (kind === AvcSliceType.B) writeWeights(w, h.predWeightTable.l1, chroma);
  }
  if (h.refIdc !== 0) {
    if (idr) {
      w.u1(h.noOutputOfPriorPics ? 1 : 0);
      w.u1(h.longTermReference ? 1 : 0);
    } else {
      w.u1(h.mmcos === undefined ? 0 : 1);
      if (h.mmcos !== undefined) {
        for (const m of h.mmcos) {
          w.ue(m.op);
          if (m.op === 1 || m.op === 3 || m.op === 2 || m.op === 4) w.ue(m.a);
          if (m.op === 3 || m.op === 6) w.ue(m.b);
        }
        w.ue(0);
      }
    }
  }
  if (pps.entropyCodingMode && kind !== AvcSliceType.I && kind !== AvcSliceType.SI)
    w.ue(h.cabacInitIdc);
  w.se(h.sliceQpDelta);
  if (kind === AvcSliceType.SP || kind === AvcSliceType.SI) {
    if (kind === AvcSliceType.SP) w.u1(h.spForSwitch ? 1 : 0);
    w.se(h.sliceQsDelta);
  }
  if (pps.deblockingFilterControlPresent) {
    w.ue(h.disableDeblockingFilterIdc);
    if (h.disableDeblockingFilterIdc !== 1) {
      w.se(h.sliceAlphaC0OffsetDiv2);
      w.se(h.sliceBetaOffsetDiv2);
    }
  }
  if (pps.numSliceGroups > 1 && pps.sliceGroupMapType >= 3 && pps.sliceGroupMapType <= 5) {
    w.u(sliceGroupChangeCycleBits(sps, pps), h.sliceGroupChangeCycle);
  }
}
