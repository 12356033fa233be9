/**
 * Chroma upsampling, bit-exact with libjpeg-turbo's default ("fancy") upsampling in jdsample.c:
 * triangle filters for 2:1 horizontal (h2v1), 2:1 vertical (h1v2) and 2:1 both ways (h2v2),
 * with the same alternating rounding biases, and box replication for every other integral
 * ratio. Which filter applies follows jinit_upsampler: h2v1 and h2v2 fall back to replication
 * when the component is at most 2 samples wide.
 *
 * Edges: samples outside the component (downsampled_width x downsampled_height) are the
 * nearest edge sample, which is what libjpeg's context rows (jdmainct.c) and last-column
 * special cases amount to.
 */

/** One component's samples after the IDCT. */
export interface ComponentPlane {
  readonly data: Uint8Array;
  readonly stride: number;
  /** downsampled_width / downsampled_height: the samples that belong to the image. */
  readonly width: number;
  readonly height: number;
}

/** Produces rows of a component at full resolution, one output row at a time. */
export interface RowUpsampler {
  /** Where the rows are: a row buffer, or the plane itself for full-size components. */
  readonly data: Uint8Array;
  /** Make output row y available in `data`; returns its offset there. */
  row(y: number): number;
}

/**
 * The upsampler for a component sampled hExpand x vExpand times more coarsely than the image
 * (hMax/h, vMax/v), producing rows of at least outWidth samples.
 */
export function createRowUpsampler(
  plane: ComponentPlane,
  hExpand: number,
  vExpand: number,
  outWidth: number,
): RowUpsampler {
  if (hExpand === 1 && vExpand === 1) return new FullSize(plane);
  if (hExpand === 2 && vExpand === 1 && plane.width > 2) return new H2V1Fancy(plane, outWidth);
  if (hExpand === 1 && vExpand === 2) return new H1V2Fancy(plane, outWidth);
  if (hExpand === 2 && vExpand === 2 && plane.width > 2) return new H2V2Fancy(plane, outWidth);
  return new Replicate(plane, hExpand, vExpand, outWidth);
}

function rowBuffer(plane: ComponentPlane, hExpand: number, outWidth: number): Uint8Array {
  return new Uint8Array(Math.max(outWidth, plane.width * hExpand));
}

class FullSize implements RowUpsampler {
  readonly data: Uint8Array;
  constructor(private readonly plane: ComponentPlane) {
    this.data = plane.data;
  }
  row(y: number): number {
    return y * this.plane.stride;
  }
}

/** jdsample.c h2v1_fancy_upsample: 3/4 nearer + 1/4 further sample, biases 1 and 2. */
class H2V1Fancy implements RowUpsampler {
  readonly data: Uint8Array;
  constructor(
    private readonly plane: ComponentPlane,
    outWidth: number,
  ) {
    this.data = rowBuffer(plane, 2, outWidth);
  }
  row(y: number): number {
    const { data: src, stride, width } = this.plane;
    const out = this.data;
    const i = y * stride;
    let v = src[i];
    out[0] = v;
    out[1] = (v * 3 + src[i + 1] + 2) >> 2;
    for (let x = 1; x < width - 1; x++) {
      v = src[i + x] * 3;
      out[2 * x] = (v + src[i + x - 1] + 1) >> 2;
      out[2 * x + 1] = (v + src[i + x + 1] + 2) >> 2;
    }
    const last = width - 1;
    v = src[i + last];
    out[2 * last] = (v * 3 + src[i + last - 1] + 1) >> 2;
    out[2 * last + 1] = v;
    return 0;
  }
}

/** jdsample.c h1v2_fancy_upsample: vertical triangle filter, bias 1 above and 2 below. */
class H1V2Fancy implements RowUpsampler {
  readonly data: Uint8Array;
  constructor(
    private readonly plane: ComponentPlane,
    outWidth: number,
  ) {
    this.data = rowBuffer(plane, 1, outWidth);
  }
  row(y: number): number {
    const { data: src, stride, width, height } = this.plane;
    const out = this.data;
    const r = y >> 1;
    const below = (y & 1) === 1;
    const other = below ? Math.min(r + 1, height - 1) : Math.max(r - 1, 0);
    const bias = below ? 2 : 1;
    const i0 = r * stride;
    const i1 = other * stride;
    for (let x = 0; x < width; x++) out[x] = (src[i0 + x] * 3 + src[i1 + x] + bias) >> 2;
    return 0;
  }
}

/**
 * jdsample.c h2v2_fancy_upsample: 9/16, 3/16, 3/16, 1/16 of the four nearest samples, biases
 * 8 and 7 alternating along the row.
 */
class H2V2Fancy implements RowUpsampler {
  readonly data: Uint8Array;
  constructor(
    private readonly plane: ComponentPlane,
    outWidth: number,
  ) {
    this.data = rowBuffer(plane, 2, outWidth);
  }
  row(y: number): number {
    const { data: src, stride, width, height } = this.plane;
    const out = this.data;
    const r = y >> 1;
    const other = (y & 1) === 1 ? Math.min(r + 1, height - 1) : Math.max(r - 1, 0);
    const i0 = r * stride;
    const i1 = other * stride;
    let thisSum = src[i0] * 3 + src[i1];
    let nextSum = src[i0 + 1] * 3 + src[i1 + 1];
    out[0] = (thisSum * 4 + 8) >> 4;
    out[1] = (thisSum * 3 + nextSum + 7) >> 4;
    let lastSum = thisSum;
    thisSum = nextSum;
    for (let x = 1; x < width - 1; x++) {
      nextSum = src[i0 + x + 1] * 3 + src[i1 + x + 1];
      out[2 * x] = (thisSum * 3 + lastSum + 8) >> 4;
      out[2 * x + 1] = (thisSum * 3 + nextSum + 7) >> 4;
      lastSum = thisSum;
      thisSum = nextSum;
    }
    const last = width - 1;
    out[2 * last] = (thisSum * 3 + lastSum + 8) >> 4;
    out[2 * last + 1] = (thisSum * 4 + 7) >> 4;
    return 0;
  }
}

/** jdsample.c int_upsample / h2v1_upsample / h2v2_upsample: box replication. */
class Replicate implements RowUpsampler {
  readonly data: Uint8Array;
  private readonly outWidth: number;
  constructor(
    private readonly plane: ComponentPlane,
    private readonly hExpand: number,
    private readonly vExpand: number,
    outWidth: number,
  ) {
    this.outWidth = outWidth;
    this.data = new Uint8Array(outWidth + hExpand);
  }
  row(y: number): number {
    const { data: src, stride } = this.plane;
    const out = this.data;
    const h = this.hExpand;
    const i = Math.floor(y / this.vExpand) * stride;
    for (let x = 0, o = 0; o < this.outWidth; x++) {
      const v = src[i + x];
      for (let k = 0; k < h; k++) out[o++] = v;
    }
    return 0;
  }
}
