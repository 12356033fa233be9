// The emoji catalogue: emoji-datasource's list (code points, CLDR groups and order, which
// vendors have an image) joined with OpenMoji's data for the CLDR short names.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { codepointKey, emojiString } from './codepoints.mjs';

const require = createRequire(import.meta.url);

/**
 * @typedef {import('./classes.mjs').EmojiRecord & {
 *   key: string,
 *   emoji: string,
 *   image: string,
 *   hasImage: {google: boolean, twitter: boolean},
 *   openmojiHexcode: string | null,
 * }} CatalogueEntry
 */

/** @param {string} pkg @param {string} file */
function readPackageJson(pkg, file) {
  return JSON.parse(
    readFileSync(join(dirname(require.resolve(`${pkg}/package.json`)), file), 'utf8'),
  );
}

/**
 * Every emoji of emoji-datasource, skin-tone variants left out (they are listed under their
 * base emoji's `skin_variations`, which this ignores), in CLDR order.
 * @returns {{entries: CatalogueEntry[], unnamed: number}}  `unnamed`: emoji OpenMoji has no
 *   CLDR name for; they fall back to the lowercased Unicode name
 */
export function loadCatalogue() {
  const datasource = readPackageJson('emoji-datasource-google', 'emoji.json');
  const openmoji = readPackageJson('openmoji', 'data/openmoji.json');
  /** @type {Map<string, {hexcode: string, annotation: string}>} */
  const byKey = new Map();
  for (const o of openmoji) byKey.set(codepointKey(o.hexcode), o);
  let unnamed = 0;
  /** @type {CatalogueEntry[]} */
  const entries = datasource.map((d) => {
    const key = codepointKey(d.unified);
    const om = byKey.get(key);
    if (om === undefined) unnamed += 1;
    return {
      codepoint: d.unified,
      key,
      emoji: emojiString(d.unified),
      name: om?.annotation ?? d.name.toLowerCase(),
      category: d.category,
      subcategory: d.subcategory,
      order: d.sort_order,
      image: d.image,
      hasImage: { google: d.has_img_google === true, twitter: d.has_img_twitter === true },
      openmojiHexcode: om?.hexcode ?? null,
    };
  });
  entries.sort((a, b) => a.order - b.order);
  return { entries, unnamed };
}
