/**
 * JPEG marker codes (ITU-T T.81, Table B.1). Only the second byte is listed; every marker is
 * 0xFF followed by this code.
 */
export const Marker = {
  SOF0: 0xc0, // baseline DCT, Huffman
  SOF1: 0xc1, // extended sequential DCT, Huffman
  SOF2: 0xc2, // progressive DCT, Huffman
  SOF3: 0xc3, // lossless, Huffman
  DHT: 0xc4,
  SOF5: 0xc5,
  SOF6: 0xc6,
  SOF7: 0xc7,
  JPG: 0xc8,
  SOF9: 0xc9, // arithmetic coding
  SOF10: 0xca,
  SOF11: 0xcb,
  DAC: 0xcc,
  SOF13: 0xcd,
  SOF14: 0xce,
  SOF15: 0xcf,
  RST0: 0xd0, // RST0..RST7 = 0xd0..0xd7
  RST7: 0xd7,
  SOI: 0xd8,
  EOI: 0xd9,
  SOS: 0xda,
  DQT: 0xdb,
  DNL: 0xdc,
  DRI: 0xdd,
  DHP: 0xde,
  EXP: 0xdf,
  APP0: 0xe0, // APP0..APP15 = 0xe0..0xef
  APP15: 0xef,
  COM: 0xfe,
} as const;

export function isRst(code: number): boolean {
  return code >= Marker.RST0 && code <= Marker.RST7;
}

/** Markers that stand alone, with no length field (T.81 B.1.1.3): SOI, EOI, RSTm, TEM. */
export function isStandalone(code: number): boolean {
  return code === Marker.SOI || code === Marker.EOI || isRst(code) || code === 0x01;
}

/** The RST marker code that follows restart interval number `k` (0-based): they cycle mod 8. */
export function rstCode(k: number): number {
  return Marker.RST0 + (k & 7);
}
