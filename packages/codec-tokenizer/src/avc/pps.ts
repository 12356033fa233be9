/** Picture parameter set RBSP (H.264 7.3.2.2, semantics 7.4.2.2). */
import { CodecError } from '../errors.js';
import { AvcBitReader } from './bitstream.js';
import { avcSkipScalingList, type AvcSps } from './sps.js';

export interface AvcPps {
  readonly id: number;
  readonly spsId: number;
  /** entropy_coding_mode_flag: false = CAVLC, true = CABAC. */
  readonly entropyCodingMode: boolean;
  readonly bottomFieldPicOrderInFramePresent: boolean;
  readonly numSliceGroups: number;
  readonly sliceGroupMapType: number;
  readonly sliceGroupChangeRate: number;
  readonly numRefIdxL0DefaultActive: number;
  readonly numRefIdxL1DefaultActive: number;
  readonly weightedPred: boolean;
  readonly weightedBipredIdc: number;
  readonly picInitQp: number;
  readonly picInitQs: number;
  readonly chromaQpIndexOffset: number;
  readonly deblockingFilterControlPresent: boolean;
  readonly constrainedIntraPred: boolean;
  readonly redundantPicCntPresent: boolean;
  readonly transform8x8Mode: boolean;
}

function range(name: string, v: number, lo: number, hi: number): number {
  if (v < lo || v > hi) {
    throw new CodecError('corrupt', `PPS: ${name} = ${v} is outside ${lo}..${hi}`);
  }
  return v;
}

/**
 * Parse a PPS from its RBSP. The SPS it refers to is needed only for the optional trailing
 * fields (scaling list count depends on chroma_format_idc); 4:2:0 is assumed without it.
 */
export function avcParsePps(rbsp: Uint8Array, sps?: AvcSps): AvcPps {
  const r = new AvcBitReader(rbsp, 'PPS');
  const id = range('pic_parameter_set_id', r.ue(), 0, 255);
  const spsId = range('seq_parameter_set_id', r.ue(), 0, 31);
  const entropyCodingMode = r.u1() === 1;
  const bottomFieldPicOrderInFramePresent = r.u1() === 1;
  const numSliceGroups = range('num_slice_groups_minus1', r.ue(), 0, 7) + 1;
  let sliceGroupMapType = 0;
  let sliceGroupChangeRate = 1;
  if (numSliceGroups > 1) {
    sliceGroupMapType = range('slice_group_map_type', r.ue(), 0, 6);
    if (sliceGroupMapType === 0) {
      for (let g = 0; g < numSliceGroups; g++) r.ue(); // run_length_minus1
    } else if (sliceGroupMapType === 2) {
      for (let g = 0; g < numSliceGroups - 1; g++) {
        r.ue(); // top_left
        r.ue(); // bottom_right
      }
    } else if (sliceGroupMapType >= 3 && sliceGroupMapType <= 5) {
      r.u1(); // slice_group_change_direction_flag
      sliceGroupChangeRate = r.ue() + 1;
    } else if (sliceGroupMapType === 6) {
      const mapUnits = r.ue() + 1;
      const bits = Math.ceil(Math.log2(numSliceGroups));
      for (let i = 0; i < mapUnits; i++) r.u(bits);
    }
  }
  const numRefIdxL0DefaultActive = range('num_ref_idx_l0_default_active_minus1', r.ue(), 0, 31) + 1;
  const numRefIdxL1DefaultActive = range('num_ref_idx_l1_default_active_minus1', r.ue(), 0, 31) + 1;
  const weightedPred = r.u1() === 1;
  const weightedBipredIdc = range('weighted_bipred_idc', r.u(2), 0, 2);
  const picInitQp = range('pic_init_qp_minus26', r.se(), -26 - 36, 25) + 26;
  const picInitQs = range('pic_init_qs_minus26', r.se(), -26, 25) + 26;
  const chromaQpIndexOffset = range('chroma_qp_index_offset', r.se(), -12, 12);
  const deblockingFilterControlPresent = r.u1() === 1;
  const constrainedIntraPred = r.u1() === 1;
  const redundantPicCntPresent = r.u1() === 1;
  let transform8x8Mode = false;
  if (r.moreRbspData()) {
    transform8x8Mode = r.u1() === 1;
    if (r.u1()) {
      const chroma = sps?.chromaFormatIdc ?? 1;
      const lists = 6 + (chroma !== 3 ? 2 : 6) * (transform8x8Mode ? 1 : 0);
      for (let i = 0; i < lists; i++) if (r.u1()) avcSkipScalingList(r, i < 6 ? 16 : 64);
    }
    range('second_chroma_qp_index_offset', r.se(), -12, 12);
  }
  if (!r.atTrailingBits()) throw new CodecError('corrupt', 'PPS: missing rbsp_trailing_bits');
  return {
    id,
    spsId,
    entropyCodingMode,
    bottomFieldPicOrderInFramePresent,
    numSliceGroups,
    sliceGroupMapType,
    sliceGroupChangeRate,
    numRefIdxL0DefaultActive,
    numRefIdxL1DefaultActive,
    weightedPred,
    weightedBipredIdc,
    picInitQp,
    picInitQs,
    chromaQpIndexOffset,
    deblockingFilterControlPresent,
    constrainedIntraPred,
    redundantPicCntPresent,
    transform8x8Mode,
  };
}
