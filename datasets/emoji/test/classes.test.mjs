// Unit tests of the recipe's pure logic; they need none of the emoji packages.
//   node --test datasets/emoji/test/
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MERGES, assignClasses, isIncluded, selectClasses, slugify } from '../lib/classes.mjs';
import { ALPHA_CUTOFF, alphaBox } from '../lib/alpha-box.mjs';
import { codepointKey, emojiString } from '../lib/codepoints.mjs';
import { iconifySvg } from '../lib/iconify.mjs';

let order = 0;
/** A catalogue record as lib/metadata.mjs makes them. */
function rec(codepoint, name, category, subcategory) {
  order += 1;
  return { codepoint, name, category, subcategory, order };
}

const A = 'Animals & Nature';
const P = 'People & Body';
const T = 'Travel & Places';

// Real CLDR names and groups (emoji-datasource 16 / OpenMoji 17), a slice of the catalogue
// covering every rule; the merge table's other members are added so validation passes.
const RECORDS = [
  rec('1F436', 'dog face', A, 'animal-mammal'),
  rec('1F415', 'dog', A, 'animal-mammal'),
  rec('1F9AE', 'guide dog', A, 'animal-mammal'),
  rec('1F415-200D-1F9BA', 'service dog', A, 'animal-mammal'),
  rec('1F429', 'poodle', A, 'animal-mammal'),
  rec('1F32D', 'hot dog', 'Food & Drink', 'food-prepared'),
  rec('1F42F', 'tiger face', A, 'animal-mammal'),
  rec('1F405', 'tiger', A, 'animal-mammal'),
  rec('1F438', 'frog', A, 'animal-amphibian'),
  // CLDR's name before 2017, when no 'unicorn' existed to merge into.
  rec('1F984', 'unicorn face', A, 'animal-mammal'),
  rec('1F31D', 'sun with face', A, 'sky & weather'),
  rec('1F31E', 'sun', A, 'sky & weather'),
  rec('1F9D1-200D-1F33E', 'farmer', P, 'person-role'),
  rec('1F468-200D-1F33E', 'man farmer', P, 'person-role'),
  rec('1F469-200D-1F33E', 'woman farmer', P, 'person-role'),
  rec('1F3C3', 'person running', P, 'person-sport'),
  rec('1F3C3-200D-2642-FE0F', 'man running', P, 'person-sport'),
  rec('1F3C3-200D-27A1-FE0F', 'person running: facing right', P, 'person-sport'),
  rec('1F3C3-200D-2640-FE0F-200D-27A1-FE0F', 'woman running: facing right', P, 'person-sport'),
  rec('1F483', 'woman dancing', P, 'person-activity'),
  rec('1F57A', 'man dancing', P, 'person-activity'),
  rec('1F46F-200D-2642-FE0F', 'men with bunny ears', P, 'person-activity'),
  rec('1F46F', 'people with bunny ears', P, 'person-activity'),
  rec('1F468', 'man', P, 'person'),
  rec('1F468-200D-1F9B0', 'man: red hair', P, 'person'),
  rec('1F468-200D-1F469-200D-1F466', 'family: man, woman, boy', P, 'family'),
  rec('1F46A', 'family', P, 'family'),
  rec('1F44A', 'oncoming fist', P, 'hand-fingers-closed'),
  rec('1F68C', 'bus', T, 'transport-ground'),
  rec('1F68D', 'oncoming bus', T, 'transport-ground'),
  rec('1F55B', 'twelve o’clock', T, 'time'),
  rec('1F567', 'twelve-thirty', T, 'time'),
  rec('23F0', 'alarm clock', T, 'time'),
  rec('1F3A8', 'artist palette', 'Activities', 'arts & crafts'),
  rec('1FA85', 'piñata', 'Activities', 'game'),
  rec('1F452', 'woman’s hat', 'Objects', 'clothing'),
  rec('1F1EF-1F1F5', 'flag: Japan', 'Flags', 'country-flag'),
  rec('1F3C1', 'chequered flag', 'Flags', 'flag'),
  rec('2764-FE0F', 'red heart', 'Smileys & Emotion', 'heart'),
  rec('267B-FE0F', 'recycling symbol', 'Symbols', 'other-symbol'),
  rec('1F3FB', 'light skin tone', 'Component', 'skin-tone'),
];

/** Adds a record for every merge-table member the slice above lacks. */
function withMergeMembers(records) {
  const have = new Set(records.map((r) => r.name));
  const extra = Object.values(MERGES)
    .flat()
    .filter((name) => !have.has(name))
    .map((name, i) => rec(`E${String(i).padStart(4, '0')}`, name, A, 'animal-mammal'));
  return [...records, ...extra];
}

const labels = assignClasses(withMergeMembers(RECORDS));
const labelOf = (name) => labels.get(RECORDS.find((r) => r.name === name).codepoint);

test('dog gathers dog face, dog, poodle, guide dog and service dog, and nothing else', () => {
  const dogs = RECORDS.filter((r) => labels.get(r.codepoint) === 'dog').map((r) => r.name);
  assert.deepEqual(dogs.sort(), ['dog', 'dog face', 'guide dog', 'poodle', 'service dog']);
  assert.equal(labelOf('hot dog'), 'hot-dog');
});

test('an animal face joins its animal only when that animal exists', () => {
  assert.equal(labelOf('tiger face'), 'tiger');
  assert.equal(labelOf('tiger'), 'tiger');
  assert.equal(labelOf('frog'), 'frog');
  assert.equal(labelOf('unicorn face'), 'unicorn-face');
  // The face rule is for animals: the sun with a face stays its own concept.
  assert.equal(labelOf('sun with face'), 'sun-with-face');
});

test('gendered variants share a concept', () => {
  assert.equal(labelOf('man farmer'), 'farmer');
  assert.equal(labelOf('woman farmer'), 'farmer');
  assert.equal(labelOf('man running'), 'person-running');
  assert.equal(labelOf('woman dancing'), 'person-dancing');
  assert.equal(labelOf('man dancing'), 'person-dancing');
  assert.equal(labelOf('men with bunny ears'), 'people-with-bunny-ears');
  // 'man' alone is a concept, not a prefix.
  assert.equal(labelOf('man'), 'man');
});

test('CLDR qualifiers fold into the qualified concept', () => {
  assert.equal(labelOf('man: red hair'), 'man');
  assert.equal(labelOf('family: man, woman, boy'), 'family');
  assert.equal(labelOf('family'), 'family');
  assert.equal(labelOf('person running: facing right'), 'person-running');
  assert.equal(labelOf('woman running: facing right'), 'person-running');
});

test('oncoming vehicles join the vehicle; other "oncoming" names stay', () => {
  assert.equal(labelOf('oncoming bus'), 'bus');
  assert.equal(labelOf('oncoming fist'), 'oncoming-fist');
});

test('the 24 clock faces are one class; other clocks are not', () => {
  assert.equal(labelOf('twelve o’clock'), 'clock-face');
  assert.equal(labelOf('twelve-thirty'), 'clock-face');
  assert.equal(labelOf('alarm clock'), 'alarm-clock');
});

test('symbols, components and country flags are out of scope; other flags are in', () => {
  for (const name of ['flag: Japan', 'recycling symbol', 'light skin tone']) {
    assert.equal(labelOf(name), undefined, name);
    assert.equal(isIncluded(RECORDS.find((r) => r.name === name)), false);
  }
  assert.equal(labelOf('chequered flag'), 'chequered-flag');
  assert.equal(labelOf('red heart'), 'red-heart');
});

test('a merge-table member that names no emoji is an error', () => {
  assert.throws(() => assignClasses(RECORDS), /MERGES member .* is no emoji/);
});

test('slugify makes portable labels', () => {
  assert.equal(slugify('piñata'), 'pinata');
  assert.equal(slugify('woman’s hat'), 'womans-hat');
  assert.equal(slugify('T-shirt'), 't-shirt');
  assert.equal(slugify('person gesturing NO'), 'person-gesturing-no');
  assert.equal(slugify('1st place medal'), '1st-place-medal');
  assert.equal(slugify('Japanese “here” button'), 'japanese-here-button');
  assert.throws(() => slugify('’ !'), /no letters or digits/);
});

test('selectClasses counts per set and drops classes below the minimum', () => {
  const sets = ['noto', 'twemoji', 'openmoji'];
  const images = [
    { codepoint: '1F436', set: 'noto' },
    { codepoint: '1F436', set: 'twemoji' },
    { codepoint: '1F415', set: 'noto' },
    { codepoint: '1F415', set: 'openmoji' },
    { codepoint: '1F438', set: 'noto' },
    { codepoint: '1F1EF-1F1F5', set: 'noto' }, // out of scope: no label, not counted
  ];
  const picked = selectClasses(labels, images, sets, 2);
  assert.deepEqual([...picked.keys()], ['dog']);
  assert.deepEqual(picked.get('dog'), { noto: 2, twemoji: 1, openmoji: 1 });
  const all = selectClasses(labels, images, sets, 1);
  assert.deepEqual([...all.keys()], ['dog', 'frog']);
  assert.deepEqual(all.get('frog'), { noto: 1, twemoji: 0, openmoji: 0 });
  assert.throws(() => selectClasses(labels, [{ codepoint: '1F436', set: 'x' }], sets, 1));
});

test('codepointKey joins the packages’ spellings', () => {
  assert.equal(codepointKey('2764-FE0F'), '2764');
  assert.equal(codepointKey('2764'), '2764');
  assert.equal(codepointKey('1f415-200d-1f9ba'), '1F415-200D-1F9BA');
  assert.equal(codepointKey('1F3C3-200D-2640-FE0F-200D-27A1-FE0F'), '1F3C3-200D-2640-200D-27A1');
  assert.throws(() => codepointKey('dog'), /not a code point sequence/);
  assert.throws(() => codepointKey('FE0F'), /only U\+FE0F/);
  assert.equal(emojiString('1F415-200D-1F9BA'), '\u{1F415}\u200D\u{1F9BA}');
});

test('iconifySvg resolves flipped aliases and per-icon boxes', () => {
  const set = {
    width: 32,
    height: 32,
    icons: { left: { body: '<path d="M0 0h1v1z"/>' }, wide: { body: '<g/>', width: 40 } },
    aliases: { right: { parent: 'left', hFlip: true }, loop: { parent: 'loop' } },
  };
  assert.equal(
    iconifySvg(set, 'left'),
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"' +
      ' width="32" height="32" viewBox="0 0 32 32"><path d="M0 0h1v1z"/></svg>',
  );
  assert.match(
    iconifySvg(set, 'right'),
    /<g transform="translate\(32 0\) scale\(-1 1\)"><path d="M0 0h1v1z"\/><\/g><\/svg>$/,
  );
  assert.match(iconifySvg(set, 'wide'), /width="40" height="32" viewBox="0 0 40 32"/);
  assert.throws(() => iconifySvg(set, 'missing'), /no icon "missing"/);
  assert.throws(() => iconifySvg(set, 'loop'), /alias loop/);
});

test('alphaBox finds the drawn pixels and ignores faint haze', () => {
  const width = 5;
  const height = 4;
  const rgba = new Uint8Array(width * height * 4);
  const setAlpha = (x, y, a) => {
    rgba[(y * width + x) * 4 + 3] = a;
  };
  assert.equal(alphaBox(rgba, width, height), null);
  setAlpha(1, 1, 255);
  setAlpha(3, 2, ALPHA_CUTOFF);
  setAlpha(4, 3, ALPHA_CUTOFF - 1); // haze: outside the box
  assert.deepEqual(alphaBox(rgba, width, height), { left: 1, top: 1, width: 3, height: 2 });
  assert.throws(() => alphaBox(rgba, width, height + 1), /size mismatch/);
});
