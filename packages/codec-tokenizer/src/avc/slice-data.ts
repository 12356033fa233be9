/**
 * The start of slice_data() (H.264 7.3.4) for CAVLC slices: a light check that a slice covers
 * the profile's macroblocks, and the synthetic slices repair uses in place of lost ones.
 */
import { CodecError } from '../errors.js';
import { AvcBitReader, AvcBitWriter } from './bitstream.js';
import type { AvcPps } from './pps.js';
import { AvcSliceType, avcWriteSliceHeader, type AvcSliceHeader } from './slice-header.js';
import type { AvcSps } from './sps.js';

/** Largest mb_type in an I slice (Table 7-11: I_NxN = 0 .. I_PCM = 25). */
const MAX_I_MB_TYPE = 25;
/** Largest mb_type in a P slice: five P types (Table 7-13) then the 26 intra types. */
const MAX_P_MB_TYPE = 5 + MAX_I_MB_TYPE;

/**
 * Check the first syntax elements of a CAVLC slice's data against what a canonical slice of
 * `mbsPerSlice` macroblocks must hold: mb_skip_run no larger than the slice, a skipped slice
 * ending right there, an mb_type in range, and an rbsp_stop_one_bit somewhere after it.
 * Returns a description of the first problem, or undefined. CABAC slices are not checked.
 */
export function avcCheckSliceData(
  rbsp: Uint8Array,
  h: AvcSliceHeader,
  pps: AvcPps,
  sps: AvcSps,
  mbsPerSlice: number,
): string | undefined {
  if (pps.entropyCodingMode) return undefined;
  const r = new AvcBitReader(rbsp, 'slice data');
  const kind = h.sliceType % 5;
  const mbsLeft = Math.min(mbsPerSlice, sps.picSizeInMbs - h.firstMbInSlice);
  try {
    r.skip(h.headerBits);
    if (!r.moreRbspData()) return 'slice has no macroblocks';
    if (kind !== AvcSliceType.I && kind !== AvcSliceType.SI) {
      const skipRun = r.ue();
      if (skipRun > mbsLeft)
        return `mb_skip_run ${skipRun} exceeds the slice's ${mbsLeft} macroblock(s)`;
      if (skipRun === mbsLeft) {
        return r.moreRbspData() ? "data after the slice's last (skipped) macroblock" : undefined;
      }
      if (!r.moreRbspData()) return 'slice ends after mb_skip_run';
    }
    const mbType = r.ue();
    const max = kind === AvcSliceType.I ? MAX_I_MB_TYPE : MAX_P_MB_TYPE;
    if (kind !== AvcSliceType.SI && mbType > max) return `mb_type ${mbType} is above ${max}`;
    if (!r.moreRbspData()) return 'slice ends inside its first macroblock';
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return undefined;
}

/** Bit index of the rbsp_stop_one_bit: the last 1 bit of the RBSP, or -1. */
export function avcStopBit(rbsp: Uint8Array): number {
  for (let i = rbsp.length - 1; i >= 0; i--) {
    const b = rbsp[i];
    if (b !== 0) {
      let bit = 7;
      while (((b >> (7 - bit)) & 1) === 0) bit--;
      return i * 8 + bit;
    }
  }
  return -1;
}

/**
 * The RBSP of a slice with header `to` and the slice data of an existing slice (`rbsp`, whose
 * parsed header is `from`). Used to renumber frames without touching macroblock data.
 */
export function avcRewriteSliceHeader(
  rbsp: Uint8Array,
  from: AvcSliceHeader,
  to: AvcSliceHeader,
  sps: AvcSps,
  pps: AvcPps,
): Uint8Array {
  const w = new AvcBitWriter();
  avcWriteSliceHeader(w, to, sps, pps);
  const r = new AvcBitReader(rbsp, 'slice');
  r.skip(from.headerBits);
  const stop = avcStopBit(rbsp);
  w.copyBits(r, Math.max(0, stop - from.headerBits));
  w.trailingBits();
  return w.toBytes();
}

/**
 * A slice that stands in for a lost one (same picture fields as `template`, at `firstMb`):
 * in a P slice every macroblock is P_Skip, which copies the co-located block of the nearest
 * reference (no neighbours are available across slices, so the predicted motion is zero); in
 * an I slice every macroblock is I_16x16 with DC prediction and no residual, i.e. mid grey.
 */
export function avcConcealmentSlice(
  template: AvcSliceHeader,
  firstMb: number,
  mbs: number,
  sps: AvcSps,
  pps: AvcPps,
): Uint8Array {
  const h: AvcSliceHeader = { ...template, firstMbInSlice: firstMb };
  const w = new AvcBitWriter();
  avcWriteSliceHeader(w, h, sps, pps);
  const n = Math.min(mbs, sps.picSizeInMbs - firstMb);
  const kind = h.sliceType % 5;
  if (kind === AvcSliceType.P || kind === AvcSliceType.SP || kind === AvcSliceType.B) {
    w.ue(n); // mb_skip_run covering the whole slice; no more data follows
  } else {
    const chromaArrayType = sps.separateColourPlane ? 0 : sps.chromaFormatIdc;
    if (chromaArrayType === 3) {
      throw new CodecError('unsupported', 'concealment slices for 4:4:4 video are not implemented');
    }
    for (let i = 0; i < n; i++) {
      // mb_type 3 = I_16x16_2_0_0 (Table 7-11): Intra_16x16 prediction mode 2 (DC), chroma and
      // luma AC coded_block_pattern 0. No transform_size_8x8_flag for I_16x16 (7.3.5).
      w.ue(3);
      if (chromaArrayType !== 0) w.ue(0); // intra_chroma_pred_mode 0 = DC (Table 7-16)
      w.se(0); // mb_qp_delta
      // Intra16x16DCLevel: coeff_token for TotalCoeff 0, TrailingOnes 0. Neighbouring blocks lie
      // in other slices, so nC = 0 and the code is "1" (Table 9-5, 0 <= nC < 2).
      w.u1(1);
    }
  }
  w.trailingBits();
  return w.toBytes();
}
