/**
 * The fixed header of a canonical JPEG: every marker segment from SOI through the SOS segment
 * (T.81 B.2.1: SOI, tables/misc., frame header, tables/misc., scan header). Only the walk over
 * segment boundaries lives here; the segments' contents are compared byte for byte.
 */
import { CodecError } from './errors.js';
import { Marker, isStandalone } from './jpeg/markers.js';

export interface HeaderSegment {
  /** Second byte of the marker (0xDB for DQT, ...). */
  readonly marker: number;
  /** Offset of the 0xFF that starts the marker. */
  readonly offset: number;
  /** Offset just past the segment (marker + length field + payload). */
  readonly end: number;
}

export interface JpegHeaderLayout {
  /** SOI is not listed; segments in file order, the last one being SOS. */
  readonly segments: readonly HeaderSegment[];
  /** Offset of the first entropy-coded byte (just past the SOS segment). */
  readonly headerEnd: number;
}

/** SOF0..SOF15 (T.81 Table B.1), which share their range with DHT, JPG and DAC. */
export function isFrameMarker(code: number): boolean {
  return (
    code >= Marker.SOF0 &&
    code <= Marker.SOF15 &&
    code !== Marker.DHT &&
    code !== Marker.JPG &&
    code !== Marker.DAC
  );
}

export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === Marker.SOI && bytes[2] === 0xff;
}

/**
 * Walk the marker segments from SOI to the end of the first SOS segment. Throws CodecError
 * ('not-an-image', 'truncated' or 'corrupt') with the offset of the problem.
 */
export function readHeaderLayout(bytes: Uint8Array): JpegHeaderLayout {
  if (bytes.length < 2 || bytes[0] !== 0xff || bytes[1] !== Marker.SOI) {
    throw new CodecError('not-an-image', 'not a JPEG file (no SOI marker)', 0);
  }
  const segments: HeaderSegment[] = [];
  let i = 2;
  for (;;) {
    if (i >= bytes.length) {
      throw new CodecError('truncated', 'JPEG header ends before the start of scan (SOS)', i);
    }
    if (bytes[i] !== 0xff) {
      throw new CodecError(
        'corrupt',
        `expected a marker at byte ${i}, found 0x${hex(bytes[i])}`,
        i,
      );
    }
    // Fill bytes (T.81 B.1.1.2): any number of 0xFF may precede a marker.
    let m = i + 1;
    while (m < bytes.length && bytes[m] === 0xff) m++;
    if (m >= bytes.length) {
      throw new CodecError('truncated', 'JPEG header ends inside a marker', i);
    }
    const marker = bytes[m];
    if (marker === 0 || isStandalone(marker)) {
      throw new CodecError(
        'corrupt',
        `unexpected marker 0xFF${hex(marker).toUpperCase()} in the JPEG header at byte ${i}`,
        i,
      );
    }
    if (m + 2 >= bytes.length) {
      throw new CodecError('truncated', 'JPEG header ends inside a segment length', i);
    }
    const length = (bytes[m + 1] << 8) | bytes[m + 2];
    if (length < 2) {
      throw new CodecError('corrupt', `segment at byte ${i} has invalid length ${length}`, i);
    }
    const end = m + 1 + length;
    if (end > bytes.length) {
      throw new CodecError(
        'truncated',
        `JPEG header segment 0xFF${hex(marker).toUpperCase()} at byte ${i} runs past the end of the file`,
        i,
      );
    }
    segments.push({ marker, offset: i, end });
    i = end;
    if (marker === Marker.SOS) return { segments, headerEnd: end };
  }
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/** Readable name of a header marker, for messages. */
export function markerName(code: number): string {
  if (code >= Marker.APP0 && code <= Marker.APP15) return `APP${code - Marker.APP0}`;
  const names: Record<number, string> = {
    [Marker.DQT]: 'DQT',
    [Marker.DHT]: 'DHT',
    [Marker.DRI]: 'DRI',
    [Marker.SOS]: 'SOS',
    [Marker.COM]: 'COM',
    [Marker.SOF0]: 'SOF0',
    [Marker.SOF1]: 'SOF1',
    [Marker.SOF2]: 'SOF2',
    [Marker.SOF3]: 'SOF3',
    [Marker.DAC]: 'DAC',
    [Marker.DNL]: 'DNL',
  };
  return names[code] ?? `0xFF${hex(code).toUpperCase()}`;
}

interface HeaderFacts {
  sof?: number;
  width?: number;
  height?: number;
  sampling?: string;
  restart: number;
  dqt: number[];
  dht: number[];
  other: string[];
}

function facts(bytes: Uint8Array, layout: JpegHeaderLayout): HeaderFacts {
  const f: HeaderFacts = { restart: 0, dqt: [], dht: [], other: [] };
  for (const s of layout.segments) {
    const payload = s.offset + 4;
    const m = s.marker;
    if (isFrameMarker(m)) {
      f.sof = m;
      if (s.end - payload >= 6) {
        f.height = (bytes[payload + 1] << 8) | bytes[payload + 2];
        f.width = (bytes[payload + 3] << 8) | bytes[payload + 4];
        const n = bytes[payload + 5];
        const parts: string[] = [];
        for (let c = 0; c < n && payload + 6 + 3 * c + 2 < s.end; c++) {
          const hv = bytes[payload + 6 + 3 * c + 1];
          parts.push(`${hv >> 4}x${hv & 15}`);
        }
        f.sampling = parts.join(',');
      }
    } else if (m === Marker.DRI && s.end - payload >= 2) {
      f.restart = (bytes[payload] << 8) | bytes[payload + 1];
    } else if (m === Marker.DQT) {
      for (let i = payload; i < s.end; i++) f.dqt.push(bytes[i]);
    } else if (m === Marker.DHT) {
      for (let i = payload; i < s.end; i++) f.dht.push(bytes[i]);
    } else if (m !== Marker.SOS) {
      f.other.push(markerName(m));
    }
  }
  return f;
}

const SOF_KIND: Record<number, string> = {
  [Marker.SOF1]: 'extended sequential',
  [Marker.SOF2]: 'progressive',
  [Marker.SOF3]: 'lossless',
};

/**
 * Say in a few words why a JPEG header differs from the expected canonical header, e.g.
 * "image is 320x240, expected 256x256". Both must be complete headers (see readHeaderLayout).
 */
export function describeHeaderMismatch(actual: Uint8Array, expected: Uint8Array): string {
  const la = readHeaderLayout(actual);
  const le = readHeaderLayout(expected);
  const a = facts(actual, la);
  const e = facts(expected, le);
  if (a.sof !== e.sof) {
    const kind = a.sof === undefined ? 'no frame header' : (SOF_KIND[a.sof] ?? markerName(a.sof));
    return `not a baseline JPEG (${kind})`;
  }
  if (a.width !== e.width || a.height !== e.height) {
    return `image is ${a.width}x${a.height}, expected ${e.width}x${e.height}`;
  }
  if (a.sampling !== e.sampling) {
    return `components/sampling factors are ${a.sampling}, expected ${e.sampling}`;
  }
  if (a.restart !== e.restart) {
    return `restart interval is ${a.restart} MCUs, expected ${e.restart}`;
  }
  if (a.dqt.join() !== e.dqt.join()) {
    return 'quantisation tables differ (another quality or encoder)';
  }
  if (a.dht.join() !== e.dht.join()) {
    return 'Huffman tables are not the standard Annex K tables (optimised coding?)';
  }
  const extra = a.other.filter((x) => !e.other.includes(x));
  if (extra.length > 0) return `extra header segments ${extra.join(', ')}`;
  const missing = e.other.filter((x) => !a.other.includes(x));
  if (missing.length > 0) return `missing header segments ${missing.join(', ')}`;
  const n = Math.min(la.headerEnd, le.headerEnd);
  let i = 0;
  while (i < n && actual[i] === expected[i]) i++;
  return `header bytes differ from the canonical header at byte ${i}`;
}
