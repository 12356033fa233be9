// Builds a standalone SVG document from an icon in an IconifyJSON set (the format of the
// @iconify-json/* packages: shared defaults, per-icon bodies, aliases that flip a parent).

/**
 * @typedef {object} IconifyIcon
 * @property {string} body
 * @property {number} [left]
 * @property {number} [top]
 * @property {number} [width]
 * @property {number} [height]
 * @property {boolean} [hFlip]
 * @property {boolean} [vFlip]
 * @property {number} [rotate]
 *
 * @typedef {object} IconifyAlias
 * @property {string} parent
 * @property {boolean} [hFlip]
 * @property {boolean} [vFlip]
 * @property {number} [rotate]
 *
 * @typedef {object} IconifyJSON
 * @property {Record<string, IconifyIcon>} icons
 * @property {Record<string, IconifyAlias>} [aliases]
 * @property {number} [left]
 * @property {number} [top]
 * @property {number} [width]
 * @property {number} [height]
 */

/** IconifyJSON's default box when neither the set nor the icon gives one. */
const DEFAULT_SIZE = 16;
/** An alias chain longer than this is a loop. */
const MAX_ALIAS_DEPTH = 8;

/**
 * The SVG document of icon `name`, with the icon's own view box.
 * @param {IconifyJSON} set
 * @param {string} name
 * @returns {string}
 */
export function iconifySvg(set, name) {
  let hFlip = false;
  let vFlip = false;
  let rotate = 0;
  let current = name;
  for (let depth = 0; !Object.hasOwn(set.icons, current); depth += 1) {
    const alias = set.aliases?.[current];
    if (alias === undefined) throw new Error(`icon set has no icon ${JSON.stringify(current)}`);
    if (depth === MAX_ALIAS_DEPTH) throw new Error(`alias loop at ${JSON.stringify(name)}`);
    hFlip = hFlip !== Boolean(alias.hFlip);
    vFlip = vFlip !== Boolean(alias.vFlip);
    rotate += alias.rotate ?? 0;
    current = alias.parent;
  }
  const icon = set.icons[current];
  hFlip = hFlip !== Boolean(icon.hFlip);
  vFlip = vFlip !== Boolean(icon.vFlip);
  rotate += icon.rotate ?? 0;
  // No Fluent icon is rotated; refusing beats rendering one wrongly.
  if (rotate % 4 !== 0) throw new Error(`icon ${JSON.stringify(name)} is rotated; unsupported`);
  const left = icon.left ?? set.left ?? 0;
  const top = icon.top ?? set.top ?? 0;
  const width = icon.width ?? set.width ?? DEFAULT_SIZE;
  const height = icon.height ?? set.height ?? DEFAULT_SIZE;
  let body = icon.body;
  if (hFlip || vFlip) {
    // Mirror inside the view box: x -> 2*left + width - x (and likewise for y).
    const tx = hFlip ? 2 * left + width : 0;
    const ty = vFlip ? 2 * top + height : 0;
    body = `<g transform="translate(${tx} ${ty}) scale(${hFlip ? -1 : 1} ${vFlip ? -1 : 1})">${body}</g>`;
  }
  return (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"' +
    ` width="${width}" height="${height}" viewBox="${left} ${top} ${width} ${height}">${body}</svg>`
  );
}
