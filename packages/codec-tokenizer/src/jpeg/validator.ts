/**
 * The JPEG validator (issue 3 section 1): parse the header strictly, entropy-decode the whole
 * scan without the IDCT, and report every problem with its byte offset and MCU, the state of
 * every MCU, and a verdict.
 *
 * - valid: no problem at all.
 * - repairable: the header is usable and at least one MCU is intact; the repairer keeps the
 *   intact MCUs (`mcuStatus`, `coefficients`) and replaces the rest.
 * - rejected: the header is unusable (or describes something other than a single-scan
 *   sequential Huffman JPEG), or no MCU is intact.
 */
import { CodecError } from '../errors.js';
import type { CoefficientImage } from './frame.js';
import {
  decodeScan,
  MCU_DAMAGED,
  MCU_INTACT,
  MCU_MISSING,
  type JpegProblem,
  type ScanLayout,
} from './scan-decoder.js';
import { parseJpegStructure, type JpegParseOptions, type JpegStructure } from './segment-parser.js';

export type Verdict = 'valid' | 'repairable' | 'rejected';

export interface ValidationReport {
  readonly verdict: Verdict;
  /** Every problem found, in stream order (listing stops after MAX_REPORTED_PROBLEMS). */
  readonly problems: JpegProblem[];
  readonly mcuCount: number;
  readonly intactMcus: number;
  readonly damagedMcus: number;
  readonly missingMcus: number;
  /** The parsed header, or null when it is unusable. */
  readonly structure: JpegStructure | null;
  /** MCU layout of the scan (null with the structure). */
  readonly layout: ScanLayout | null;
  /** Per MCU in raster order: 0 intact, 1 damaged, 2 missing. */
  readonly mcuStatus: Uint8Array;
  /** Coefficients of the intact MCUs; damaged and missing MCUs are zero. */
  readonly coefficients: CoefficientImage | null;
  /** Offset of the EOI marker that ends the scan, or -1. */
  readonly eoiOffset: number;
}

export type JpegValidateOptions = JpegParseOptions;

/**
 * Validate a JPEG stream. Never throws for bad data; only for a frame above the megapixel limit
 * (CodecError 'too-large', refused before any allocation) or invalid options.
 *
 * The walk over the scan keeps no coefficients, which is what makes validation fast; the
 * report's `coefficients` decodes them on first access (from a private copy of the bytes).
 */
export function validateJpeg(bytes: Uint8Array, options?: JpegValidateOptions): ValidationReport {
  let structure: JpegStructure;
  try {
    structure = parseJpegStructure(bytes, options);
  } catch (e) {
    if (!(e instanceof CodecError) || e.code === 'too-large' || e.code === 'invalid-argument')
      throw e;
    return new Report(
      'rejected',
      [{ kind: 'header', offset: e.offset ?? 0, mcu: null, message: e.message }],
      null,
      null,
      new Uint8Array(0),
      -1,
      null,
    );
  }
  const scan = decodeScan(bytes, structure, { storeCoefficients: false });
  const status = scan.mcuStatus;
  let intact = 0;
  for (let m = 0; m < status.length; m++) if (status[m] === MCU_INTACT) intact++;
  const verdict: Verdict =
    scan.problems.length === 0 ? 'valid' : intact > 0 ? 'repairable' : 'rejected';
  return new Report(
    verdict,
    scan.problems,
    structure,
    scan.layout,
    status,
    scan.eoiOffset,
    bytes.slice(),
  );
}

class Report implements ValidationReport {
  readonly mcuCount: number;
  readonly intactMcus: number;
  readonly damagedMcus: number;
  readonly missingMcus: number;
  #bytes: Uint8Array | null;
  #coefficients: CoefficientImage | null = null;

  constructor(
    readonly verdict: Verdict,
    readonly problems: JpegProblem[],
    readonly structure: JpegStructure | null,
    readonly layout: ScanLayout | null,
    readonly mcuStatus: Uint8Array,
    readonly eoiOffset: number,
    bytes: Uint8Array | null,
  ) {
    const counts = [0, 0, 0];
    for (let m = 0; m < mcuStatus.length; m++) counts[mcuStatus[m]]++;
    this.mcuCount = mcuStatus.length;
    this.intactMcus = counts[MCU_INTACT];
    this.damagedMcus = counts[MCU_DAMAGED];
    this.missingMcus = counts[MCU_MISSING];
    this.#bytes = bytes;
  }

  get coefficients(): CoefficientImage | null {
    if (this.#coefficients === null && this.#bytes !== null && this.structure !== null) {
      // Same bytes, same walk: the statuses match mcuStatus exactly.
      this.#coefficients = decodeScan(this.#bytes, this.structure).coefficients;
      this.#bytes = null;
    }
    return this.#coefficients;
  }
}
