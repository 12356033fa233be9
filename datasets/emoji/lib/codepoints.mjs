// Code point sequences as the emoji packages spell them, and the key that joins them.

/** U+FE0F VARIATION SELECTOR-16: requests emoji presentation; optional in file names. */
const VS16 = 'FE0F';

/**
 * The join key of a code point sequence: uppercase hex, '-'-separated, without U+FE0F. The
 * packages disagree on where FE0F goes (emoji-datasource '2764-FE0F', Iconify '2764'; OpenMoji
 * names the file '1F415' for the dog it writes with FE0F), never on the other code points.
 * @param {string} sequence  hex code points separated by '-' or '_', any case
 * @returns {string}
 */
export function codepointKey(sequence) {
  const parts = sequence.toUpperCase().split(/[-_]/);
  if (parts.length === 0 || parts.some((p) => !/^[0-9A-F]{4,6}$/.test(p))) {
    throw new Error(`${JSON.stringify(sequence)} is not a code point sequence`);
  }
  const kept = parts.filter((p) => p !== VS16);
  if (kept.length === 0) throw new Error(`${JSON.stringify(sequence)} is only U+FE0F`);
  return kept.join('-');
}

/**
 * The emoji itself, e.g. '1F415-200D-1F9BA' -> '🐕‍🦺'.
 * @param {string} sequence  hex code points separated by '-'
 * @returns {string}
 */
export function emojiString(sequence) {
  return String.fromCodePoint(...sequence.split('-').map((p) => Number.parseInt(p, 16)));
}
