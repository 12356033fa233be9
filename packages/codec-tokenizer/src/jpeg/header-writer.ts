/**
 * Marker segments from SOI through SOS, laid out as libjpeg's jcmarker.c writes them for cjpeg:
 *
 *   SOI, APP0 "JFIF" 1.01 (no units, density 1:1, no thumbnail),
 *   one DQT per quantisation table in order of first use by the frame's components,
 *   SOFn, one DHT per Huffman table in scan order (DC then AC for each component, each table
 *   once), DRI when the restart interval is not 0, SOS (Ss=0, Se=63, Ah=Al=0).
 *
 * Segment syntax: T.81 B.2.2 (SOF), B.2.3 (SOS), B.2.4.1 (DQT), B.2.4.2 (DHT), B.2.4.4 (DRI);
 * APP0 layout: JFIF 1.02 specification.
 */
import { CodecError } from '../errors.js';
import { MAX_RESTART_INTERVAL } from './entropy-encoder.js';
import type { FrameHeader, JpegTables, ScanComponent } from './frame.js';
import { Marker } from './markers.js';
import { ZIGZAG, type HuffmanSpec } from './tables.js';

class ByteSink {
  private readonly bytes: number[] = [];
  u8(v: number): void {
    this.bytes.push(v & 0xff);
  }
  u16(v: number): void {
    this.bytes.push((v >> 8) & 0xff, v & 0xff);
  }
  marker(code: number): void {
    this.bytes.push(0xff, code);
  }
  toBytes(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function checkU16(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min || v > 0xffff) {
    throw new CodecError(
      'invalid-argument',
      `${name} must be an integer in ${min}..65535, got ${v}`,
    );
  }
}

function writeJfifApp0(out: ByteSink): void {
  out.marker(Marker.APP0);
  out.u16(16);
  for (const ch of 'JFIF') out.u8(ch.charCodeAt(0));
  out.u8(0);
  out.u8(1); // major version
  out.u8(1); // minor version (libjpeg's default JFIF 1.01)
  out.u8(0); // density units: none, aspect ratio only
  out.u16(1); // X density
  out.u16(1); // Y density
  out.u8(0); // thumbnail width
  out.u8(0); // thumbnail height
}

function writeDqt(out: ByteSink, id: number, table: Uint16Array): void {
  let wide = false;
  for (let i = 0; i < 64; i++) {
    const q = table[i];
    if (!Number.isInteger(q) || q < 1 || q > 0xffff) {
      throw new CodecError(
        'invalid-argument',
        `quantisation table ${id}: value ${q} is outside 1..65535`,
      );
    }
    if (q > 255) wide = true;
  }
  out.marker(Marker.DQT);
  out.u16(2 + 1 + 64 * (wide ? 2 : 1));
  out.u8(((wide ? 1 : 0) << 4) | id);
  for (let k = 0; k < 64; k++) {
    const q = table[ZIGZAG[k]];
    if (wide) out.u16(q);
    else out.u8(q);
  }
}

function writeDht(out: ByteSink, tableClass: 0 | 1, id: number, spec: HuffmanSpec): void {
  const count = spec.values.length;
  out.marker(Marker.DHT);
  out.u16(2 + 1 + 16 + count);
  out.u8((tableClass << 4) | id);
  for (let i = 0; i < 16; i++) out.u8(spec.bits[i]);
  for (const v of spec.values) out.u8(v);
}

/** SOI .. end of the SOS segment, byte for byte what cjpeg writes for the same parameters. */
export function writeJpegHeaders(
  frame: FrameHeader,
  tables: JpegTables,
  scan: readonly ScanComponent[],
  restartInterval: number,
): Uint8Array {
  checkU16('image width', frame.width, 1);
  checkU16('image height', frame.height, 1);
  if (
    !Number.isInteger(restartInterval) ||
    restartInterval < 0 ||
    restartInterval > MAX_RESTART_INTERVAL
  ) {
    throw new CodecError(
      'invalid-argument',
      `restart interval must be an integer in 0..${MAX_RESTART_INTERVAL}, got ${restartInterval}`,
    );
  }
  const n = frame.components.length;
  if (n < 1 || n > 4) {
    throw new CodecError('invalid-argument', `a frame has 1..4 components here, not ${n}`);
  }
  if (scan.length < 1 || scan.length > n) {
    throw new CodecError('invalid-argument', `a scan has 1..${n} components, not ${scan.length}`);
  }

  const out = new ByteSink();
  out.marker(Marker.SOI);
  writeJfifApp0(out);

  const sentQuant = new Set<number>();
  for (const c of frame.components) {
    if (sentQuant.has(c.quantTable)) continue;
    const table = tables.quant[c.quantTable];
    if (table === undefined) {
      throw new CodecError(
        'invalid-argument',
        `component ${c.id} uses undefined quantisation table ${c.quantTable}`,
      );
    }
    writeDqt(out, c.quantTable, table);
    sentQuant.add(c.quantTable);
  }

  out.marker(frame.sofMarker);
  out.u16(8 + 3 * n);
  out.u8(frame.precision);
  out.u16(frame.height);
  out.u16(frame.width);
  out.u8(n);
  for (const c of frame.components) {
    if (c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4) {
      throw new CodecError(
        'invalid-argument',
        `component ${c.id}: sampling factors ${c.h}x${c.v} outside 1..4`,
      );
    }
    out.u8(c.id);
    out.u8((c.h << 4) | c.v);
    out.u8(c.quantTable);
  }

  const sentDc = new Set<number>();
  const sentAc = new Set<number>();
  for (const sc of scan) {
    const dc = tables.dcHuffman[sc.dcTable];
    const ac = tables.acHuffman[sc.acTable];
    if (dc === undefined || ac === undefined) {
      throw new CodecError(
        'invalid-argument',
        `scan component ${sc.componentIndex} uses an undefined Huffman table`,
      );
    }
    if (!sentDc.has(sc.dcTable)) {
      writeDht(out, 0, sc.dcTable, dc);
      sentDc.add(sc.dcTable);
    }
    if (!sentAc.has(sc.acTable)) {
      writeDht(out, 1, sc.acTable, ac);
      sentAc.add(sc.acTable);
    }
  }

  if (restartInterval !== 0) {
    out.marker(Marker.DRI);
    out.u16(4);
    out.u16(restartInterval);
  }

  out.marker(Marker.SOS);
  out.u16(6 + 2 * scan.length);
  out.u8(scan.length);
  for (const sc of scan) {
    const c = frame.components[sc.componentIndex];
    if (c === undefined) {
      throw new CodecError(
        'invalid-argument',
        `scan names component ${sc.componentIndex}, which the frame lacks`,
      );
    }
    out.u8(c.id);
    out.u8((sc.dcTable << 4) | sc.acTable);
  }
  out.u8(0); // Ss
  out.u8(63); // Se
  out.u8(0); // Ah, Al
  return out.toBytes();
}
