/**
 * The marker segments of a JPEG file from SOI up to and including the SOS segment (T.81 B.1,
 * B.2), parsed strictly. Everything the decoder, validator and repairer need to entropy-decode
 * the scan comes out of here: frame header, quantisation and Huffman tables, restart interval,
 * scan components, and where the entropy-coded data begins.
 *
 * "Strict" means: every deviation that libjpeg-turbo's djpeg warns about or refuses, and every
 * T.81 violation that changes how the scan must be read, is a CodecError naming the problem and
 * its byte offset. A header this parser accepts can be re-used verbatim by the repairer and
 * decodes without header warnings in djpeg.
 */
import { CodecError } from '../errors.js';
import { DEFAULT_MAX_MEGAPIXELS } from '../image.js';
import type { FrameComponent, FrameHeader, JpegTables, ScanComponent } from './frame.js';
import { huffmanTableProblem } from './huffman-decoder.js';
import { Marker, isRst } from './markers.js';
import { ZIGZAG, type HuffmanSpec } from './tables.js';

/** One marker segment: `offset` of its 0xFF byte, `length` in bytes including the marker. */
export interface JpegSegment {
  readonly marker: number;
  readonly offset: number;
  readonly length: number;
}

/**
 * Colour space of the components, decided as libjpeg does (jdapimin.c
 * default_decompress_parms): JFIF implies YCbCr; otherwise an Adobe APP14 transform flag;
 * otherwise the component ids ('R','G','B' means RGB).
 */
export type JpegColorSpace = 'grayscale' | 'ycbcr' | 'rgb' | 'cmyk' | 'ycck' | 'unknown';

export interface JpegStructure {
  readonly frame: FrameHeader;
  readonly tables: JpegTables;
  /** MCUs per restart interval (DRI); 0 when the scan has no restart markers. */
  readonly restartInterval: number;
  readonly scan: readonly ScanComponent[];
  /** Offset just after the SOS segment: the first byte of entropy-coded data. */
  readonly headerEnd: number;
  readonly segments: readonly JpegSegment[];
  readonly colorSpace: JpegColorSpace;
}

export interface JpegParseOptions {
  /** Refuse frames with width * height above this many megapixels (default 64). */
  readonly maxMegapixels?: number;
}

/** libjpeg's JPEG_MAX_DIMENSION: djpeg refuses larger frames. */
const MAX_DIMENSION = 65500;
/** T.81 B.2.3: at most 10 blocks in the MCU of an interleaved scan. */
const MAX_BLOCKS_IN_MCU = 10;
/** JFIF APP0 body: "JFIF\0", version, units, densities, thumbnail size (JFIF 1.02). */
const JFIF_BODY_LENGTH = 14;
/** Adobe APP14 body: "Adobe", version, flags0, flags1, transform. */
const ADOBE_BODY_LENGTH = 12;

const SEGMENT_NAMES: Readonly<Record<number, string>> = {
  [Marker.DHT]: 'DHT',
  [Marker.JPG]: 'JPG',
  [Marker.DAC]: 'DAC',
  [Marker.SOI]: 'SOI',
  [Marker.EOI]: 'EOI',
  [Marker.SOS]: 'SOS',
  [Marker.DQT]: 'DQT',
  [Marker.DNL]: 'DNL',
  [Marker.DRI]: 'DRI',
  [Marker.DHP]: 'DHP',
  [Marker.EXP]: 'EXP',
  [Marker.COM]: 'COM',
  0x01: 'TEM',
};

/** The name of a marker code, for messages: SOF0, DHT, RST3, APP1, ... */
export function segmentName(code: number): string {
  const named = SEGMENT_NAMES[code];
  if (named !== undefined) return named;
  if (code >= 0xc0 && code <= 0xcf) return `SOF${code - 0xc0}`;
  if (isRst(code)) return `RST${code - Marker.RST0}`;
  if (code >= Marker.APP0 && code <= Marker.APP15) return `APP${code - Marker.APP0}`;
  return `0x${hex(code)}`;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

const UNSUPPORTED_PROCESS: Record<number, string> = {
  0xc2: 'progressive DCT',
  0xc3: 'lossless',
  0xc5: 'differential sequential (hierarchical)',
  0xc6: 'differential progressive (hierarchical)',
  0xc7: 'differential lossless (hierarchical)',
  0xc9: 'arithmetic-coded sequential',
  0xca: 'arithmetic-coded progressive',
  0xcb: 'arithmetic-coded lossless',
  0xcd: 'arithmetic-coded differential sequential',
  0xce: 'arithmetic-coded differential progressive',
  0xcf: 'arithmetic-coded differential lossless',
};

function megapixelLimit(options: JpegParseOptions | undefined): number {
  const limit = options?.maxMegapixels ?? DEFAULT_MAX_MEGAPIXELS;
  if (!(limit > 0) || !Number.isFinite(limit)) {
    throw new CodecError(
      'invalid-argument',
      `maxMegapixels must be a positive number, got ${limit}`,
    );
  }
  return limit;
}

/** Parse SOI..SOS. Throws CodecError on anything malformed, unsupported or too large. */
export function parseJpegStructure(bytes: Uint8Array, options?: JpegParseOptions): JpegStructure {
  const limit = megapixelLimit(options);
  const n = bytes.length;
  if (n === 0) throw new CodecError('not-an-image', 'empty input (0 bytes), not a JPEG file', 0);
  if (n < 2 || bytes[0] !== 0xff || bytes[1] !== Marker.SOI) {
    const start = Array.from(bytes.subarray(0, 2), (b) => `0x${hex(b)}`).join(' ');
    throw new CodecError(
      'not-an-image',
      `not a JPEG file: starts with ${start}, not SOI (0xff 0xd8)`,
      0,
    );
  }
  const segments: JpegSegment[] = [{ marker: Marker.SOI, offset: 0, length: 2 }];
  const quant: (Uint16Array | undefined)[] = [undefined, undefined, undefined, undefined];
  const quantPrecision = [0, 0, 0, 0];
  const dcHuffman: (HuffmanSpec | undefined)[] = [undefined, undefined, undefined, undefined];
  const acHuffman: (HuffmanSpec | undefined)[] = [undefined, undefined, undefined, undefined];
  let frame: FrameHeader | null = null;
  let restartInterval = 0;
  let jfif = false;
  let adobeTransform = -1;
  let pos = 2;

  for (;;) {
    if (pos >= n) {
      throw new CodecError(
        'truncated',
        `file ends at offset ${n} before the start of scan (SOS)`,
        n,
      );
    }
    if (bytes[pos] !== 0xff) {
      throw new CodecError(
        'corrupt',
        `expected a marker at offset ${pos}, found byte 0x${hex(bytes[pos])}`,
        pos,
      );
    }
    // Any marker may be preceded by 0xFF fill bytes (T.81 B.1.1.2).
    while (pos + 1 < n && bytes[pos + 1] === 0xff) pos++;
    if (pos + 1 >= n)
      throw new CodecError('truncated', `file ends inside a marker at offset ${pos}`, pos);
    const code = bytes[pos + 1];
    const at = pos;
    const name = segmentName(code);
    if (
      code === 0x00 ||
      code === 0x01 ||
      code === Marker.SOI ||
      code === Marker.EOI ||
      isRst(code)
    ) {
      const why =
        code === Marker.EOI
          ? 'EOI before any scan: the file holds no image'
          : code === 0x00
            ? 'stray 0xff 0x00'
            : `unexpected ${name} marker`;
      throw new CodecError('corrupt', `${why} at offset ${at}`, at);
    }
    if (pos + 4 > n) {
      throw new CodecError('truncated', `file ends inside the ${name} segment at offset ${at}`, at);
    }
    const length = (bytes[pos + 2] << 8) | bytes[pos + 3];
    if (length < 2) {
      throw new CodecError('corrupt', `${name} segment at offset ${at} has length ${length}`, at);
    }
    if (pos + 2 + length > n) {
      throw new CodecError(
        'truncated',
        `${name} segment at offset ${at} needs ${length} bytes, only ${n - pos - 2} remain`,
        at,
      );
    }
    const body = bytes.subarray(pos + 4, pos + 2 + length);
    const where = `${name} segment at offset ${at}`;
    segments.push({ marker: code, offset: at, length: length + 2 });
    pos += 2 + length;

    if (code === Marker.SOF0 || code === Marker.SOF1) {
      if (frame !== null) throw new CodecError('corrupt', `second frame header: ${where}`, at);
      frame = parseFrame(code, body, where, at, limit);
    } else if (UNSUPPORTED_PROCESS[code] !== undefined) {
      throw new CodecError(
        'unsupported',
        `${UNSUPPORTED_PROCESS[code]} JPEG (${where}) is not supported`,
        at,
      );
    } else if (code === Marker.DHT) {
      parseHuffmanTables(body, where, at, dcHuffman, acHuffman);
    } else if (code === Marker.DQT) {
      parseQuantTables(body, where, at, quant, quantPrecision);
    } else if (code === Marker.DRI) {
      if (body.length !== 2)
        throw new CodecError('corrupt', `${where} has length ${length}, not 4`, at);
      restartInterval = (body[0] << 8) | body[1];
    } else if (code === Marker.SOS) {
      if (frame === null)
        throw new CodecError('corrupt', `${where} comes before any frame header (SOF)`, at);
      const scan = parseScan(body, where, at, frame);
      checkTablesPresent(frame, scan, quant, quantPrecision, dcHuffman, acHuffman, at);
      return {
        frame,
        tables: { quant, dcHuffman, acHuffman },
        restartInterval,
        scan,
        headerEnd: pos,
        segments,
        colorSpace: colorSpaceOf(frame, jfif, adobeTransform, at),
      };
    } else if (code === Marker.APP0) {
      if (body.length >= JFIF_BODY_LENGTH && isTag(body, 'JFIF')) {
        // libjpeg warns "unknown JFIF revision number" for any major version but 1.
        if (body[5] !== 1) {
          throw new CodecError(
            'corrupt',
            `${where}: unknown JFIF version ${body[5]}.${body[6]}`,
            at,
          );
        }
        jfif = true;
      }
    } else if (code === Marker.APP0 + 14) {
      if (body.length >= ADOBE_BODY_LENGTH && isTag(body, 'Adobe')) adobeTransform = body[11];
    } else if ((code >= Marker.APP0 && code <= Marker.APP15) || code === Marker.COM) {
      // Application data and comments carry nothing the decoder needs.
    } else if (code === Marker.DAC) {
      throw new CodecError('unsupported', `arithmetic coding (${where}) is not supported`, at);
    } else if (code === Marker.DHP || code === Marker.EXP) {
      throw new CodecError('unsupported', `hierarchical JPEG (${where}) is not supported`, at);
    } else if (code === Marker.DNL) {
      throw new CodecError('corrupt', `${where} before the scan`, at);
    } else {
      throw new CodecError('corrupt', `reserved marker 0xff 0x${hex(code)} at offset ${at}`, at);
    }
  }
}

function isTag(body: Uint8Array, tag: string): boolean {
  for (let i = 0; i < tag.length; i++) if (body[i] !== tag.charCodeAt(i)) return false;
  return body[tag.length] === 0;
}

/** T.81 B.2.2 frame header. */
function parseFrame(
  code: number,
  body: Uint8Array,
  where: string,
  at: number,
  limit: number,
): FrameHeader {
  if (body.length < 6) throw new CodecError('corrupt', `${where} is too short`, at);
  const precision = body[0];
  const height = (body[1] << 8) | body[2];
  const width = (body[3] << 8) | body[4];
  const count = body[5];
  if (body.length !== 6 + 3 * count) {
    throw new CodecError(
      'corrupt',
      `${where}: length ${body.length + 2} does not match ${count} components`,
      at,
    );
  }
  if (precision !== 8) {
    throw new CodecError(
      'unsupported',
      `${where}: ${precision}-bit samples are not supported (8-bit only)`,
      at,
    );
  }
  if (height === 0) {
    throw new CodecError(
      'unsupported',
      `${where}: height 0 (defined by a DNL marker) is not supported`,
      at,
    );
  }
  if (width === 0) throw new CodecError('corrupt', `${where}: width is 0`, at);
  if (count === 0) throw new CodecError('corrupt', `${where}: no components`, at);
  if (count > 4) {
    throw new CodecError(
      'unsupported',
      `${where}: ${count} components (at most 4 in one scan)`,
      at,
    );
  }
  if (width > MAX_DIMENSION || height > MAX_DIMENSION) {
    throw new CodecError(
      'too-large',
      `${where}: ${width}x${height} exceeds ${MAX_DIMENSION} pixels per side`,
      at,
    );
  }
  if (width * height > limit * 1e6) {
    throw new CodecError(
      'too-large',
      `${where}: ${width}x${height} is ${((width * height) / 1e6).toFixed(1)} megapixels, above the limit of ${limit}`,
      at,
    );
  }
  const components: FrameComponent[] = [];
  let hMax = 1;
  let vMax = 1;
  let blocks = 0;
  for (let i = 0; i < count; i++) {
    const id = body[6 + 3 * i];
    const h = body[7 + 3 * i] >> 4;
    const v = body[7 + 3 * i] & 15;
    const quantTable = body[8 + 3 * i];
    if (h < 1 || h > 4 || v < 1 || v > 4) {
      throw new CodecError(
        'corrupt',
        `${where}: component ${id} has sampling factors ${h}x${v}`,
        at,
      );
    }
    if (quantTable > 3) {
      throw new CodecError(
        'corrupt',
        `${where}: component ${id} uses quantisation table ${quantTable}`,
        at,
      );
    }
    if (components.some((c) => c.id === id)) {
      throw new CodecError('corrupt', `${where}: component id ${id} appears twice`, at);
    }
    components.push({ id, h, v, quantTable });
    hMax = Math.max(hMax, h);
    vMax = Math.max(vMax, v);
    blocks += h * v;
  }
  if (count > 1) {
    if (blocks > MAX_BLOCKS_IN_MCU) {
      throw new CodecError('corrupt', `${where}: ${blocks} blocks per MCU (T.81 allows 10)`, at);
    }
    for (const c of components) {
      // libjpeg only upsamples by integral factors (jdsample.c JERR_FRACT_SAMPLE_NOTIMPL).
      if (hMax % c.h !== 0 || vMax % c.v !== 0) {
        throw new CodecError(
          'unsupported',
          `${where}: component ${c.id} sampling ${c.h}x${c.v} is not an integral fraction of ${hMax}x${vMax}`,
          at,
        );
      }
    }
  }
  return { sofMarker: code, precision, width, height, components };
}

/** T.81 B.2.4.1 quantisation table specification. Tables are stored in natural order. */
function parseQuantTables(
  body: Uint8Array,
  where: string,
  at: number,
  quant: (Uint16Array | undefined)[],
  precisions: number[],
): void {
  let p = 0;
  if (body.length === 0) throw new CodecError('corrupt', `${where} is empty`, at);
  while (p < body.length) {
    const pq = body[p] >> 4;
    const tq = body[p] & 15;
    if (pq > 1) throw new CodecError('corrupt', `${where}: precision ${pq} is neither 0 nor 1`, at);
    if (tq > 3) throw new CodecError('corrupt', `${where}: table id ${tq} (0..3)`, at);
    const size = pq === 0 ? 64 : 128;
    if (p + 1 + size > body.length) {
      throw new CodecError(
        'corrupt',
        `${where}: table ${tq} needs ${size} bytes, ${body.length - p - 1} remain`,
        at,
      );
    }
    const table = new Uint16Array(64);
    for (let k = 0; k < 64; k++) {
      const v = pq === 0 ? body[p + 1 + k] : (body[p + 1 + 2 * k] << 8) | body[p + 2 + 2 * k];
      if (v === 0) throw new CodecError('corrupt', `${where}: table ${tq} has a zero entry`, at);
      table[ZIGZAG[k]] = v;
    }
    quant[tq] = table;
    precisions[tq] = pq;
    p += 1 + size;
  }
}

/**
 * Recently parsed Huffman tables by their DHT bytes. Files of one profile repeat the same
 * tables, so sharing one frozen HuffmanSpec lets the scan decoder reuse its decoding tables.
 */
interface CachedHuffman {
  readonly isDc: boolean;
  readonly raw: Uint8Array;
  readonly spec: HuffmanSpec;
}
const huffmanCache: CachedHuffman[] = [];
const HUFFMAN_CACHE_SIZE = 16;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The spec of one table given its BITS and HUFFVAL bytes, or the reason it is unusable. */
function huffmanSpecOf(raw: Uint8Array, isDc: boolean): HuffmanSpec | string {
  for (const c of huffmanCache) if (c.isDc === isDc && sameBytes(c.raw, raw)) return c.spec;
  const bits = Object.freeze(Array.from(raw.subarray(0, 16)));
  const values = Object.freeze(Array.from(raw.subarray(16)));
  const spec: HuffmanSpec = Object.freeze({ bits, values });
  const problem = huffmanTableProblem(spec, isDc);
  if (problem !== null) return problem;
  if (huffmanCache.length >= HUFFMAN_CACHE_SIZE) huffmanCache.shift();
  huffmanCache.push({ isDc, raw: raw.slice(), spec });
  return spec;
}

/** T.81 B.2.4.2 Huffman table specification. */
function parseHuffmanTables(
  body: Uint8Array,
  where: string,
  at: number,
  dc: (HuffmanSpec | undefined)[],
  ac: (HuffmanSpec | undefined)[],
): void {
  let p = 0;
  if (body.length === 0) throw new CodecError('corrupt', `${where} is empty`, at);
  while (p < body.length) {
    if (p + 17 > body.length) throw new CodecError('corrupt', `${where}: truncated table`, at);
    const tc = body[p] >> 4;
    const th = body[p] & 15;
    if (tc > 1 || th > 3) {
      throw new CodecError(
        'corrupt',
        `${where}: table class ${tc} id ${th} (class 0..1, id 0..3)`,
        at,
      );
    }
    let total = 0;
    for (let i = 1; i <= 16; i++) total += body[p + i];
    if (p + 17 + total > body.length) {
      throw new CodecError(
        'corrupt',
        `${where}: table lists ${total} codes but the segment is shorter`,
        at,
      );
    }
    const spec = huffmanSpecOf(body.subarray(p + 1, p + 17 + total), tc === 0);
    if (typeof spec === 'string') {
      throw new CodecError(
        'corrupt',
        `${where}: ${tc === 0 ? 'DC' : 'AC'} table ${th}: ${spec}`,
        at,
      );
    }
    (tc === 0 ? dc : ac)[th] = spec;
    p += 17 + total;
  }
}

/** T.81 B.2.3 scan header; only single-scan sequential files (all components in one scan). */
function parseScan(
  body: Uint8Array,
  where: string,
  at: number,
  frame: FrameHeader,
): ScanComponent[] {
  const count = body[0] ?? 0;
  if (count < 1 || count > 4 || body.length !== 4 + 2 * count) {
    throw new CodecError(
      'corrupt',
      `${where}: length ${body.length + 2} with ${count} components`,
      at,
    );
  }
  const scan: ScanComponent[] = [];
  let last = -1;
  for (let i = 0; i < count; i++) {
    const id = body[1 + 2 * i];
    const componentIndex = frame.components.findIndex((c) => c.id === id);
    if (componentIndex < 0)
      throw new CodecError('corrupt', `${where}: component id ${id} is not in the frame`, at);
    // T.81 B.2.3: scan components appear in frame order, each at most once.
    if (componentIndex <= last) {
      throw new CodecError(
        'corrupt',
        `${where}: component id ${id} is repeated or out of frame order`,
        at,
      );
    }
    last = componentIndex;
    const dcTable = body[2 + 2 * i] >> 4;
    const acTable = body[2 + 2 * i] & 15;
    if (dcTable > 3 || acTable > 3) {
      throw new CodecError(
        'corrupt',
        `${where}: component ${id} uses tables DC${dcTable}/AC${acTable}`,
        at,
      );
    }
    scan.push({ componentIndex, dcTable, acTable });
  }
  const ss = body[1 + 2 * count];
  const se = body[2 + 2 * count];
  const ah = body[3 + 2 * count] >> 4;
  const al = body[3 + 2 * count] & 15;
  if (ss !== 0 || se !== 63 || ah !== 0 || al !== 0) {
    throw new CodecError(
      'corrupt',
      `${where}: Ss=${ss} Se=${se} Ah=${ah} Al=${al} are invalid for a sequential scan (0, 63, 0, 0)`,
      at,
    );
  }
  if (count !== frame.components.length) {
    throw new CodecError(
      'unsupported',
      `${where}: the scan holds ${count} of ${frame.components.length} components; multi-scan files are not supported`,
      at,
    );
  }
  return scan;
}

function checkTablesPresent(
  frame: FrameHeader,
  scan: readonly ScanComponent[],
  quant: readonly (Uint16Array | undefined)[],
  precisions: readonly number[],
  dc: readonly (HuffmanSpec | undefined)[],
  ac: readonly (HuffmanSpec | undefined)[],
  at: number,
): void {
  for (const s of scan) {
    const c = frame.components[s.componentIndex];
    if (quant[c.quantTable] === undefined) {
      throw new CodecError(
        'corrupt',
        `component ${c.id} uses quantisation table ${c.quantTable}, which is not defined`,
        at,
      );
    }
    // T.81 B.2.4.1: 16-bit tables are not allowed with 8-bit samples in a baseline frame.
    if (frame.sofMarker === Marker.SOF0 && precisions[c.quantTable] !== 0) {
      throw new CodecError(
        'corrupt',
        `baseline frame uses 16-bit quantisation table ${c.quantTable}`,
        at,
      );
    }
    if (dc[s.dcTable] === undefined) {
      throw new CodecError(
        'corrupt',
        `component ${c.id} uses DC Huffman table ${s.dcTable}, which is not defined`,
        at,
      );
    }
    if (ac[s.acTable] === undefined) {
      throw new CodecError(
        'corrupt',
        `component ${c.id} uses AC Huffman table ${s.acTable}, which is not defined`,
        at,
      );
    }
  }
}

function colorSpaceOf(
  frame: FrameHeader,
  jfif: boolean,
  adobe: number,
  at: number,
): JpegColorSpace {
  const ids = frame.components.map((c) => c.id);
  switch (ids.length) {
    case 1:
      return 'grayscale';
    case 3:
      if (jfif) return 'ycbcr';
      if (adobe >= 0) {
        if (adobe === 0) return 'rgb';
        if (adobe === 1) return 'ycbcr';
        throw new CodecError('corrupt', `unknown Adobe colour transform code ${adobe}`, at);
      }
      return ids[0] === 0x52 && ids[1] === 0x47 && ids[2] === 0x42 ? 'rgb' : 'ycbcr';
    case 4:
      if (adobe === 2) return 'ycck';
      if (adobe <= 0) return 'cmyk';
      throw new CodecError('corrupt', `unknown Adobe colour transform code ${adobe}`, at);
    default:
      return 'unknown';
  }
}
