/**
 * The static half of the incremental JPEG grammar: Huffman decoding trees annotated with what a
 * canonical baseline encoder can emit, and the MCU layout of one scan. Everything here depends
 * only on the frame, the tables and the restart interval, so one `ScanAutomaton` is shared by
 * every grammar (and every clone) of a structure.
 *
 * "Canonical" means: the bytes are exactly what a baseline Huffman encoder (T.81 F.1.2, libjpeg's
 * jchuff.c) writes for some array of quantised coefficients. That rules out, beyond plain
 * syntax errors, codes a decoder would tolerate but an encoder never writes: an AC symbol with
 * size 0 other than EOB and ZRL, ZRL not followed by a non-zero coefficient, a run past
 * coefficient 63, magnitude categories above 11 (DC) or 10 (AC) for 8-bit samples (T.81
 * F.1.2.1.1, F.1.2.2.1), and a DC value outside the 8-bit range (see DC_LIMIT).
 */
import { CodecError } from '../errors.js';
import { frameGeometry, type FrameHeader, type JpegTables, type ScanComponent } from './frame.js';
import { deriveHuffmanCodes, type HuffmanSpec } from './tables.js';

/** Largest DC magnitude category for 8-bit samples (T.81 Table F.1: SSSS 0..11). */
export const MAX_DC_CATEGORY = 11;
/** Largest AC magnitude category for 8-bit samples (T.81 Table F.2: SSSS 1..10). */
export const MAX_AC_CATEGORY = 10;
/**
 * Largest |DC coefficient| after prediction. For 8-bit samples the DCT's DC term lies in
 * [-1024, 1016] before quantisation; T.81 F.1.2.1.1 gives the quantised DC 11 bits plus sign,
 * so a decoded value outside [-2047, 2047] cannot come from a baseline encoder.
 */
export const DC_LIMIT = 2047;
/** AC symbols with a meaning of their own (T.81 F.1.2.2.1). */
export const EOB = 0x00;
export const ZRL = 0xf0;

/** Coefficient index limits: AC coefficients are k = 1..63 in zig-zag order. */
const LAST_K = 63;
/** k is stored 0..64 (64 = the block ended on coefficient 63); rows of 65 entries, x2 for zrl. */
const K_ROWS = 65;

/**
 * A Huffman decoding tree: node 0 is the root; child[2n + bit] is > 0 for an internal node, < 0
 * for a leaf holding symbol -(value + 1), and 0 where no codeword continues (including leaves
 * that a canonical encoder never emits).
 */
export interface HuffmanTree {
  readonly child: Int32Array;
  readonly nodeCount: number;
}

function buildTree(spec: HuffmanSpec, valid: (sym: number) => boolean, what: string): HuffmanTree {
  let total = 0;
  for (let i = 0; i < 16; i++) total += spec.bits[i] ?? 0;
  if (total === 0 || total > 256 || spec.values.length < total) {
    throw new CodecError('corrupt', `${what}: Huffman table has ${total} codes`);
  }
  // deriveHuffmanCodes keeps one code per symbol: the one an encoder uses (T.81 C.2).
  const { size, code } = deriveHuffmanCodes(spec);
  const child = new Int32Array(2 * 512);
  let nodes = 1;
  for (let sym = 0; sym < 256; sym++) {
    const len = size[sym];
    if (len === 0) continue;
    const c = code[sym];
    if (c >= 1 << len) throw new CodecError('corrupt', `${what}: Huffman code lengths overflow`);
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = (c >> i) & 1;
      const slot = 2 * node + bit;
      if (i === 0) {
        if (child[slot] !== 0) throw new CodecError('corrupt', `${what}: Huffman codes collide`);
        child[slot] = valid(sym) ? -(sym + 1) : 0;
      } else {
        if (child[slot] < 0) throw new CodecError('corrupt', `${what}: Huffman codes collide`);
        if (child[slot] === 0) child[slot] = nodes++;
        node = child[slot];
      }
    }
  }
  return { child: child.slice(0, 2 * nodes), nodeCount: nodes };
}

/** A DC tree with subtrees that hold no valid leaf cut off, so every reachable node is live. */
export interface DcTable {
  readonly tree: HuffmanTree;
}

function buildDcTable(spec: HuffmanSpec, id: number): DcTable {
  const tree = buildTree(spec, (s) => s <= MAX_DC_CATEGORY, `DC table ${id}`);
  const live = new Uint8Array(tree.nodeCount);
  const visit = (n: number): boolean => {
    let any = false;
    for (let bit = 0; bit < 2; bit++) {
      const c = tree.child[2 * n + bit];
      if (c < 0) any = true;
      else if (c > 0) {
        if (visit(c)) any = true;
        else tree.child[2 * n + bit] = 0;
      }
    }
    live[n] = any ? 1 : 0;
    return any;
  };
  if (!visit(0)) throw new CodecError('corrupt', `DC table ${id} codes no usable category`);
  return { tree };
}

/**
 * An AC tree with, per (node, k, zrl), whether some symbol below the node can still lead to a
 * complete block: `alive[(node * 65 + k) * 2 + zrl]`. k is the zig-zag index of the next
 * coefficient (1..63), zrl = 1 after a ZRL (which must be followed by a non-zero coefficient,
 * so EOB is not allowed). `leafOk` is the same question for a leaf symbol.
 */
export interface AcTable {
  readonly tree: HuffmanTree;
  readonly alive: Uint8Array;
  readonly leafOk: Uint8Array;
  /** Every k <= uniformK behaves exactly like k = 1 (same alive/leafOk rows). */
  readonly uniformK: number;
  /**
   * Per node (AC Huffman state) and per magnitude bits left (AC magnitude state, index 1..10):
   * the largest k from which one byte cannot carry the index past uniformK. States that differ
   * only in a k at or below it behave identically for a whole byte, so they share a mask.
   * 0 where no k qualifies.
   */
  readonly nodeKShare: Uint8Array;
  readonly magKShare: Uint8Array;
}

function validAcSymbol(sym: number): boolean {
  if (sym === EOB || sym === ZRL) return true;
  const s = sym & 15;
  return s >= 1 && s <= MAX_AC_CATEGORY;
}

function buildAcTable(spec: HuffmanSpec, id: number): AcTable {
  const tree = buildTree(spec, validAcSymbol, `AC table ${id}`);
  const symbols: number[] = [];
  for (let i = 0; i < tree.child.length; i++)
    if (tree.child[i] < 0) symbols.push(-tree.child[i] - 1);
  const hasEob = symbols.includes(EOB);
  const hasZrl = symbols.includes(ZRL);
  let runMask = 0; // bit r set if some (r, s>=1) symbol exists
  for (const sym of symbols) if (sym !== EOB && sym !== ZRL) runMask |= 1 << (sym >> 4);

  // completable[k*2+zrl]: from "next coefficient k" the block can still be finished.
  const completable = new Uint8Array(K_ROWS * 2);
  completable[64 * 2] = 1;
  for (let k = LAST_K; k >= 1; k--) {
    for (let zrl = 0; zrl < 2; zrl++) {
      let ok = hasEob && zrl === 0;
      if (!ok && hasZrl && k + 16 <= LAST_K) ok = completable[(k + 16) * 2 + 1] === 1;
      for (let r = 0; !ok && r < 16; r++) {
        if ((runMask >> r) & 1 && k + r <= LAST_K) ok = completable[(k + r + 1) * 2] === 1;
      }
      completable[k * 2 + zrl] = ok ? 1 : 0;
    }
  }
  if (!completable[2]) throw new CodecError('corrupt', `AC table ${id} cannot code a whole block`);

  const leafOk = new Uint8Array(256 * K_ROWS * 2);
  for (const sym of symbols) {
    for (let k = 1; k <= LAST_K; k++) {
      for (let zrl = 0; zrl < 2; zrl++) {
        let ok: boolean;
        if (sym === EOB) ok = zrl === 0;
        else if (sym === ZRL) ok = k + 16 <= LAST_K && completable[(k + 16) * 2 + 1] === 1;
        else {
          const r = sym >> 4;
          ok = k + r <= LAST_K && completable[(k + r + 1) * 2] === 1;
        }
        leafOk[(sym * K_ROWS + k) * 2 + zrl] = ok ? 1 : 0;
      }
    }
  }

  const n = tree.nodeCount;
  const alive = new Uint8Array(n * K_ROWS * 2);
  const row = (node: number, k: number, zrl: number): number => (node * K_ROWS + k) * 2 + zrl;
  // Children have larger indices than their parent (built top-down), so go bottom-up.
  for (let node = n - 1; node >= 0; node--) {
    for (let k = 1; k <= LAST_K; k++) {
      for (let zrl = 0; zrl < 2; zrl++) {
        let ok = 0;
        for (let bit = 0; bit < 2 && !ok; bit++) {
          const c = tree.child[2 * node + bit];
          if (c > 0) ok = alive[row(c, k, zrl)];
          else if (c < 0) ok = leafOk[((-c - 1) * K_ROWS + k) * 2 + zrl];
        }
        alive[row(node, k, zrl)] = ok;
      }
    }
  }

  let uniformK = 1;
  const same = (k: number): boolean => {
    for (let node = 0; node < n; node++) {
      for (let zrl = 0; zrl < 2; zrl++)
        if (alive[row(node, k, zrl)] !== alive[row(node, 1, zrl)]) return false;
    }
    for (const sym of symbols) {
      for (let zrl = 0; zrl < 2; zrl++) {
        if (leafOk[(sym * K_ROWS + k) * 2 + zrl] !== leafOk[(sym * K_ROWS + 1) * 2 + zrl])
          return false;
      }
    }
    return true;
  };
  while (uniformK < LAST_K && same(uniformK + 1)) uniformK++;
  const adv = maxAdvance(tree, 8);
  const share = (a: number): number => Math.max(0, uniformK - a);
  return {
    tree,
    alive,
    leafOk,
    uniformK,
    nodeKShare: Uint8Array.from(adv.fromNode, share),
    magKShare: Uint8Array.from(adv.fromMagnitude, share),
  };
}

/**
 * The largest k advance (sum of run + 1 per coefficient, 16 per ZRL) that `bits` bits can make
 * from each AC state (per tree node, and per magnitude bits left 1..10): bounds how far ahead
 * within one byte the coefficient index can move.
 */
function maxAdvance(
  tree: HuffmanTree,
  bits: number,
): { fromNode: number[]; fromMagnitude: number[] } {
  const { child, nodeCount } = tree;
  const memo = new Map<number, number>();
  const fromNode = (node: number, n: number): number => {
    if (n === 0) return 0;
    const key = node * 32 + n;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let best = 0;
    for (let bit = 0; bit < 2; bit++) {
      const c = child[2 * node + bit];
      if (c > 0) best = Math.max(best, fromNode(c, n - 1));
      else if (c < 0) {
        const sym = -c - 1;
        if (sym === EOB) continue;
        if (sym === ZRL) best = Math.max(best, 16 + fromNode(0, n - 1));
        else best = Math.max(best, (sym >> 4) + 1 + fromMagnitude(sym & 15, n - 1));
      }
    }
    memo.set(key, best);
    return best;
  };
  const fromMagnitude = (m: number, n: number): number => (n <= m ? 0 : fromNode(0, n - m));
  return {
    fromNode: Array.from({ length: nodeCount }, (_, node) => fromNode(node, bits)),
    fromMagnitude: Array.from({ length: MAX_AC_CATEGORY + 1 }, (_, m) =>
      m === 0 ? LAST_K : fromMagnitude(m, bits),
    ),
  };
}

/** What the grammar needs to know about one scan: its block layout, trees and MCU counts. */
export interface ScanAutomaton {
  /** Per block position in the MCU: DC/AC table index into dc/ac, and the DC predictor slot. */
  readonly blockDc: Uint8Array;
  readonly blockAc: Uint8Array;
  readonly blockPred: Uint8Array;
  readonly blocksPerMcu: number;
  readonly dc: readonly DcTable[];
  readonly ac: readonly AcTable[];
  readonly components: number;
  readonly mcuCount: number;
  readonly restartInterval: number;
}

export interface ScanStructure {
  readonly frame: FrameHeader;
  readonly tables: JpegTables;
  readonly restartInterval: number;
  readonly scan: readonly ScanComponent[];
}

/** Validate a frame/scan/tables combination as one complete baseline scan and build its tables. */
export function buildScanAutomaton(s: ScanStructure): ScanAutomaton {
  const { frame, tables, scan } = s;
  if (frame.sofMarker !== 0xc0 && frame.sofMarker !== 0xc1) {
    throw new CodecError(
      'unsupported',
      `SOF marker 0x${frame.sofMarker.toString(16)} is not sequential Huffman (baseline) JPEG`,
    );
  }
  if (frame.precision !== 8) {
    throw new CodecError('unsupported', `${frame.precision}-bit samples; only 8-bit is supported`);
  }
  if (frame.width < 1 || frame.height < 1) throw new CodecError('corrupt', 'frame has no samples');
  if (scan.length < 1 || scan.length > 4)
    throw new CodecError('corrupt', `scan has ${scan.length} components`);
  if (scan.length !== frame.components.length) {
    throw new CodecError(
      'unsupported',
      `the scan codes ${scan.length} of ${frame.components.length} components; a canonical image has one scan with all of them`,
    );
  }
  const ri = s.restartInterval;
  if (!Number.isInteger(ri) || ri < 0 || ri > 0xffff) {
    throw new CodecError('invalid-argument', `restart interval ${ri} is not in 0..65535`);
  }
  const geometry = frameGeometry(frame);
  const dcIds: number[] = [];
  const acIds: number[] = [];
  const blockDc: number[] = [];
  const blockAc: number[] = [];
  const blockPred: number[] = [];
  const seen = new Set<number>();
  scan.forEach((sc, slot) => {
    const fc = frame.components[sc.componentIndex];
    if (fc === undefined || seen.has(sc.componentIndex)) {
      throw new CodecError(
        'corrupt',
        `scan component ${slot} does not name a distinct frame component`,
      );
    }
    seen.add(sc.componentIndex);
    if (tables.dcHuffman[sc.dcTable] === undefined) {
      throw new CodecError('corrupt', `DC Huffman table ${sc.dcTable} is not defined`);
    }
    if (tables.acHuffman[sc.acTable] === undefined) {
      throw new CodecError('corrupt', `AC Huffman table ${sc.acTable} is not defined`);
    }
    if (!dcIds.includes(sc.dcTable)) dcIds.push(sc.dcTable);
    if (!acIds.includes(sc.acTable)) acIds.push(sc.acTable);
    const n = scan.length === 1 ? 1 : fc.h * fc.v;
    for (let i = 0; i < n; i++) {
      blockDc.push(dcIds.indexOf(sc.dcTable));
      blockAc.push(acIds.indexOf(sc.acTable));
      blockPred.push(slot);
    }
  });
  if (blockDc.length > 10)
    throw new CodecError('corrupt', `${blockDc.length} blocks per MCU exceeds 10 (T.81 B.2.3)`);
  const dc = dcIds.map((id) => buildDcTable(tables.dcHuffman[id] as HuffmanSpec, id));
  const ac = acIds.map((id) => buildAcTable(tables.acHuffman[id] as HuffmanSpec, id));
  let mcuCount = geometry.mcuCount;
  if (scan.length === 1) {
    // A non-interleaved scan codes the component's own blocks, not MCU-padded ones (T.81 A.2.2).
    const g = geometry.components[scan[0].componentIndex];
    mcuCount = g.blocksWide * g.blocksHigh;
  }
  return {
    blockDc: Uint8Array.from(blockDc),
    blockAc: Uint8Array.from(blockAc),
    blockPred: Uint8Array.from(blockPred),
    blocksPerMcu: blockDc.length,
    dc,
    ac,
    components: scan.length,
    mcuCount,
    restartInterval: ri,
  };
}

export const AC_K_ROWS = K_ROWS;
