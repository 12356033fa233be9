/**
 * Repair of damaged baseline JPEG streams: keep every MCU the validator found intact, replace
 * damaged and missing MCUs with flat blocks, and write a canonical entropy-coded segment
 * (renumbered RST markers, 1-bit padding, EOI) after the file's own header.
 *
 * Why re-encode rather than copy intact restart intervals verbatim: the validator has already
 * entropy-decoded every intact MCU into coefficients, and coding them again with the file's own
 * tables gives the same bits for every intact interval (Huffman coding is a bijection), while
 * one path also covers streams without restart markers (where replacing an MCU changes the DC
 * predictions of everything after it), wrong RST numbering, bad padding and stray bytes. The
 * output is canonical by construction and is validated again before it is returned.
 *
 * Repair never invents a header: the header bytes (SOI through SOS) are the input's own, or,
 * for a headerless token stream, the ones the caller passes (a profile's canonical header).
 */
import { CodecError } from '../errors.js';
import type { CoefficientImage } from './frame.js';
import { DC_LIMIT } from './grammar-tables.js';
import { encodeScanData } from './entropy-encoder.js';
import { Marker } from './markers.js';
import { validateJpeg, type ValidationReport } from './validator.js';

/** How replaced MCUs are filled. */
export type RepairFill =
  /** Each component keeps the DC level of its last intact block (flat patches of that colour). */
  | 'dc'
  /** All coefficients 0: mid-grey blocks. */
  | 'neutral';

export interface RepairOptions {
  readonly fill?: RepairFill;
  /** Refuse frames above this many megapixels before allocating (default 64). */
  readonly maxMegapixels?: number;
}

export interface RepairResult {
  /** The repaired file: header, canonical entropy-coded segment, EOI. The input if it was valid. */
  readonly bytes: Uint8Array;
  /** The validator's report on the input. */
  readonly report: ValidationReport;
  /** MCUs kept from the input (intact). */
  readonly keptMcus: number;
  /** MCUs replaced with fill blocks (damaged + missing). */
  readonly repairedMcus: number;
  /** Offset of the entropy-coded segment in `bytes` (the header's length). */
  readonly scanOffset: number;
  /** False when the input was already valid and is returned unchanged. */
  readonly changed: boolean;
}

const MCU_INTACT = 0;

/**
 * Repair a JPEG stream. Throws CodecError when the validator rejects it (no usable header,
 * not a baseline Huffman JPEG, ...): the message gives the validator's reason.
 */
export function repairJpeg(bytes: Uint8Array, options: RepairOptions = {}): RepairResult {
  const fill = options.fill ?? 'dc';
  if (fill !== 'dc' && fill !== 'neutral') {
    throw new CodecError('invalid-argument', `unknown fill '${String(fill)}' (dc or neutral)`);
  }
  const report = validateJpeg(bytes, { maxMegapixels: options.maxMegapixels });
  const { structure, coefficients } = report;
  if (report.verdict === 'valid' && structure !== null) {
    return {
      bytes,
      report,
      keptMcus: report.mcuCount,
      repairedMcus: 0,
      scanOffset: structure.headerEnd,
      changed: false,
    };
  }
  if (report.verdict === 'rejected' || structure === null || coefficients === null) {
    const why = report.problems[0]?.message ?? 'the stream has no usable header';
    throw new CodecError('corrupt', `cannot repair: ${why}`, report.problems[0]?.offset);
  }
  const image = cloneCoefficients(coefficients);
  const slots = structure.scan.map((sc) => sc.componentIndex);
  const replaced = fillDamagedMcus(image, report.mcuStatus, slots, fill);
  keepDcDifferencesInRange(image, report.mcuStatus, structure.restartInterval, slots);
  const header = bytes.subarray(0, structure.headerEnd);
  let scan: Uint8Array;
  try {
    scan = encodeScanData(image, structure.scan, structure.tables, structure.restartInterval);
  } catch (e) {
    // Tables that lack EOB or a needed DC category (possible only in non-standard headers).
    if (!(e instanceof CodecError)) throw e;
    throw new CodecError(
      'unsupported',
      `cannot repair: the file's Huffman tables cannot code the replacement MCUs (${e.message})`,
    );
  }
  const out = new Uint8Array(header.length + scan.length + 2);
  out.set(header, 0);
  out.set(scan, header.length);
  out[out.length - 2] = 0xff;
  out[out.length - 1] = Marker.EOI;
  const check = validateJpeg(out);
  if (check.verdict !== 'valid') {
    // A bug, not bad input: the re-encoded stream must always validate.
    throw new Error(`repaired stream does not validate: ${check.problems[0]?.message ?? '?'}`);
  }
  return {
    bytes: out,
    report,
    keptMcus: report.mcuCount - replaced,
    repairedMcus: replaced,
    scanOffset: header.length,
    changed: true,
  };
}

/**
 * Repair a headerless token stream (the entropy-coded segment of a profile, with RST markers
 * and EOI, as a byte LM writes it): the header comes from the caller (e.g. the profile's
 * canonical header). `scan` of the result is the repaired stream without the header.
 */
export function repairScan(
  scan: Uint8Array,
  header: Uint8Array,
  options: RepairOptions = {},
): RepairResult & { readonly scan: Uint8Array } {
  const whole = new Uint8Array(header.length + scan.length);
  whole.set(header, 0);
  whole.set(scan, header.length);
  const r = repairJpeg(whole, options);
  if (r.scanOffset !== header.length) {
    throw new CodecError(
      'corrupt',
      'cannot repair: the given header does not end at its SOS segment',
    );
  }
  return { ...r, scan: r.bytes.subarray(r.scanOffset) };
}

function cloneCoefficients(c: CoefficientImage): CoefficientImage {
  return { frame: c.frame, geometry: c.geometry, planes: c.planes.map((p) => p.slice()) };
}

/**
 * Visit the blocks of one MCU in coding order (T.81 A.2.3): calls visit(slot, blockOffset) for
 * each block, where slot is the position in the scan and blockOffset indexes the plane of
 * frame component slots[slot] (64 coefficients per block).
 */
function forEachBlockOfMcu(
  image: CoefficientImage,
  mcu: number,
  slots: readonly number[],
  visit: (slot: number, offset: number) => void,
): void {
  const { geometry, frame } = image;
  if (slots.length === 1) {
    // Non-interleaved scan: one block per MCU, over the component's own block grid (A.2.2).
    const g = geometry.components[slots[0]];
    const row = Math.floor(mcu / g.blocksWide);
    const col = mcu % g.blocksWide;
    visit(0, (row * g.paddedBlocksWide + col) * 64);
    return;
  }
  const my = Math.floor(mcu / geometry.mcusWide);
  const mx = mcu % geometry.mcusWide;
  for (let s = 0; s < slots.length; s++) {
    const { h, v } = frame.components[slots[s]];
    const line = geometry.components[slots[s]].paddedBlocksWide;
    for (let y = 0; y < v; y++) {
      for (let x = 0; x < h; x++) visit(s, ((my * v + y) * line + mx * h + x) * 64);
    }
  }
}

/** Replace every non-intact MCU's blocks; returns how many MCUs were replaced. */
function fillDamagedMcus(
  image: CoefficientImage,
  status: Uint8Array,
  slots: readonly number[],
  fill: RepairFill,
): number {
  const lastDc = new Int32Array(slots.length);
  let replaced = 0;
  for (let m = 0; m < status.length; m++) {
    if (status[m] === MCU_INTACT) {
      forEachBlockOfMcu(image, m, slots, (c, off) => {
        lastDc[c] = image.planes[slots[c]][off];
      });
      continue;
    }
    replaced++;
    forEachBlockOfMcu(image, m, slots, (c, off) => {
      const plane = image.planes[slots[c]];
      plane.fill(0, off, off + 64);
      plane[off] = fill === 'dc' ? lastDc[c] : 0;
    });
  }
  return replaced;
}

/**
 * A replaced block's DC is free; choose it within DC_LIMIT of its neighbours in coding order so
 * every DC difference stays in category <= 11 (T.81 F.1.2.1.1). Both neighbours lie in
 * [-DC_LIMIT, DC_LIMIT], so the two windows always overlap.
 */
function keepDcDifferencesInRange(
  image: CoefficientImage,
  status: Uint8Array,
  restartInterval: number,
  slots: readonly number[],
): void {
  // Per scan component: its blocks in coding order, with their MCU.
  const order: { off: number; mcu: number }[][] = slots.map(() => []);
  for (let m = 0; m < status.length; m++) {
    forEachBlockOfMcu(image, m, slots, (c, off) => order[c].push({ off, mcu: m }));
  }
  for (let c = 0; c < slots.length; c++) {
    const plane = image.planes[slots[c]];
    const seq = order[c];
    let prev = 0;
    for (let i = 0; i < seq.length; i++) {
      const { off, mcu } = seq[i];
      const startsInterval = restartInterval > 0 && mcu % restartInterval === 0;
      if (startsInterval && (i === 0 || seq[i - 1].mcu !== mcu)) prev = 0;
      if (status[mcu] !== MCU_INTACT) {
        let lo = Math.max(-DC_LIMIT, prev - DC_LIMIT);
        let hi = Math.min(DC_LIMIT, prev + DC_LIMIT);
        const next = seq[i + 1];
        if (next !== undefined && status[next.mcu] === MCU_INTACT) {
          const nextStarts =
            restartInterval > 0 && next.mcu % restartInterval === 0 && next.mcu !== mcu;
          if (!nextStarts) {
            const n = plane[next.off];
            lo = Math.max(lo, n - DC_LIMIT);
            hi = Math.min(hi, n + DC_LIMIT);
          }
        }
        plane[off] = Math.min(hi, Math.max(lo, plane[off]));
      }
      prev = plane[off];
    }
  }
}
