// The image sets: which npm package holds each, under which licence, and where the image of a
// given emoji lies in it. Apple and Facebook images (also in emoji-datasource) are not openly
// licensed and are never used.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { codepointKey } from './codepoints.mjs';
import { iconifySvg } from './iconify.mjs';

const require = createRequire(import.meta.url);

/**
 * @typedef {object} SetInfo
 * @property {string} package  npm package holding the images
 * @property {string} title
 * @property {string} licence  SPDX identifier of the images' licence
 * @property {string} licenceUrl
 * @property {string} attribution  the credit line the licence asks for
 * @property {boolean} colour  false for monochrome line art
 */

/** @type {Readonly<Record<string, SetInfo>>} */
export const SETS = Object.freeze({
  noto: {
    package: 'emoji-datasource-google',
    title: 'Noto Emoji (Google), 64 px PNG',
    licence: 'Apache-2.0',
    licenceUrl: 'https://www.apache.org/licenses/LICENSE-2.0',
    attribution: 'Noto Emoji, Copyright Google Inc., Apache License 2.0',
    colour: true,
  },
  twemoji: {
    package: 'emoji-datasource-twitter',
    title: 'Twemoji (jdecked fork of Twitter’s), 64 px PNG',
    licence: 'CC-BY-4.0',
    licenceUrl: 'https://creativecommons.org/licenses/by/4.0/',
    attribution: 'Twemoji, Copyright Twitter, Inc and other contributors, CC BY 4.0',
    colour: true,
  },
  openmoji: {
    package: 'openmoji',
    title: 'OpenMoji, colour SVG',
    licence: 'CC-BY-SA-4.0',
    licenceUrl: 'https://creativecommons.org/licenses/by-sa/4.0/',
    attribution:
      'All emojis designed by OpenMoji – the open-source emoji and icon project. License: CC BY-SA 4.0',
    colour: true,
  },
  'openmoji-black': {
    package: 'openmoji',
    title: 'OpenMoji, black line-art SVG',
    licence: 'CC-BY-SA-4.0',
    licenceUrl: 'https://creativecommons.org/licenses/by-sa/4.0/',
    attribution:
      'All emojis designed by OpenMoji – the open-source emoji and icon project. License: CC BY-SA 4.0',
    colour: false,
  },
  'fluent-color': {
    package: '@iconify-json/fluent-emoji',
    title: 'Fluent Emoji (Microsoft), Color style SVG',
    licence: 'MIT',
    licenceUrl: 'https://opensource.org/license/mit',
    attribution: 'Fluent Emoji, Copyright (c) Microsoft Corporation, MIT License',
    colour: true,
  },
  'fluent-flat': {
    package: '@iconify-json/fluent-emoji-flat',
    title: 'Fluent Emoji (Microsoft), Flat style SVG',
    licence: 'MIT',
    licenceUrl: 'https://opensource.org/license/mit',
    attribution: 'Fluent Emoji, Copyright (c) Microsoft Corporation, MIT License',
    colour: true,
  },
});

/** The colour sets; 'openmoji-black' is opt-in (`--sets`). */
export const DEFAULT_SETS = Object.freeze([
  'noto',
  'twemoji',
  'openmoji',
  'fluent-color',
  'fluent-flat',
]);

/**
 * @typedef {{kind: 'file', path: string} | {kind: 'svg', svg: string}} ImageInput
 * @typedef {{input: ImageInput, source: string}} SourceImage  `source`: package@version/path
 *   (or #icon for Iconify icons), recorded in the manifest
 * @typedef {import('./metadata.mjs').CatalogueEntry} CatalogueEntry
 * @typedef {{name: string, info: SetInfo, version: string,
 *   lookup: (entry: CatalogueEntry) => SourceImage | null}} OpenSet
 */

/** @param {string} pkg */
function packageDir(pkg) {
  return dirname(require.resolve(`${pkg}/package.json`));
}

/** @param {string} pkg */
export function packageVersion(pkg) {
  return JSON.parse(readFileSync(join(packageDir(pkg), 'package.json'), 'utf8')).version;
}

/**
 * A file that the package's own metadata promises; its absence means a broken install.
 * @param {string} path
 */
function mustExist(path) {
  if (!existsSync(path)) throw new Error(`${path}: missing (reinstall with npm ci)`);
  return path;
}

/**
 * emoji-datasource's individual 64 px images. Only images flagged `has_img_<set>` are native to
 * the set (the spritesheets fill gaps with other vendors' images; the single files do not, but
 * the flag is the package's own statement).
 * @param {string} name @param {SetInfo} info @param {string} version @param {'google'|'twitter'} vendor
 * @returns {OpenSet}
 */
function openDatasource(name, info, version, vendor) {
  const dir = join(packageDir(info.package), 'img', vendor, '64');
  return {
    name,
    info,
    version,
    lookup(entry) {
      if (!entry.hasImage[vendor]) return null;
      const rel = `img/${vendor}/64/${entry.image}`;
      return {
        input: { kind: 'file', path: mustExist(join(dir, entry.image)) },
        source: `${info.package}@${version}/${rel}`,
      };
    },
  };
}

/**
 * OpenMoji's SVG exports, named by OpenMoji's hexcode.
 * @param {string} name @param {SetInfo} info @param {string} version @param {'color'|'black'} style
 * @returns {OpenSet}
 */
function openOpenmoji(name, info, version, style) {
  const dir = join(packageDir(info.package), style, 'svg');
  return {
    name,
    info,
    version,
    lookup(entry) {
      if (entry.openmojiHexcode === null) return null;
      const file = `${entry.openmojiHexcode}.svg`;
      return {
        input: { kind: 'file', path: mustExist(join(dir, file)) },
        source: `${info.package}@${version}/${style}/svg/${file}`,
      };
    },
  };
}

/**
 * Code points missing from the Flat package's chars.json whose icon the sets do have (checked by
 * eye): Iconify stores 👉 as the mirror image of 👈, an alias that chars.json leaves out.
 */
const FLUENT_EXTRA_CHARS = Object.freeze({ '1F449': 'backhand-index-pointing-right' });

/**
 * Fluent icons come by name; the Flat package's chars.json maps code points to those names,
 * which the Color package shares; a name missing from a set means no image in that set.
 * @param {string} name @param {SetInfo} info @param {string} version
 * @returns {OpenSet}
 */
function openFluent(name, info, version) {
  const set = JSON.parse(readFileSync(join(packageDir(info.package), 'icons.json'), 'utf8'));
  const chars = JSON.parse(
    readFileSync(join(packageDir('@iconify-json/fluent-emoji-flat'), 'chars.json'), 'utf8'),
  );
  /** @type {Map<string, string>} */
  const iconOf = new Map();
  for (const [sequence, icon] of [
    ...Object.entries(chars),
    ...Object.entries(FLUENT_EXTRA_CHARS),
  ]) {
    const key = codepointKey(sequence);
    const seen = iconOf.get(key);
    if (seen !== undefined && seen !== icon) {
      throw new Error(`Fluent chars.json maps ${key} to both ${seen} and ${icon}`);
    }
    iconOf.set(key, icon);
  }
  return {
    name,
    info,
    version,
    lookup(entry) {
      const icon = iconOf.get(entry.key);
      if (icon === undefined) return null;
      if (!Object.hasOwn(set.icons, icon) && !Object.hasOwn(set.aliases ?? {}, icon)) return null;
      return {
        input: { kind: 'svg', svg: iconifySvg(set, icon) },
        source: `${info.package}@${version}#${icon}`,
      };
    },
  };
}

/**
 * Loads a set's index from its installed package.
 * @param {string} name  a key of SETS
 * @returns {OpenSet}
 */
export function openSet(name) {
  const info = SETS[name];
  if (info === undefined) {
    throw new Error(`unknown set ${JSON.stringify(name)} (known: ${Object.keys(SETS).join(', ')})`);
  }
  const version = packageVersion(info.package);
  switch (name) {
    case 'noto':
      return openDatasource(name, info, version, 'google');
    case 'twemoji':
      return openDatasource(name, info, version, 'twitter');
    case 'openmoji':
      return openOpenmoji(name, info, version, 'color');
    case 'openmoji-black':
      return openOpenmoji(name, info, version, 'black');
    default:
      return openFluent(name, info, version);
  }
}
