// Class derivation: every emoji gets a concept with a human name (from its CLDR short name),
// emoji that depict the same thing share a concept, and concepts with enough images become
// classes. Pure functions only: no emoji package is needed to run (or test) this module.

/**
 * @typedef {object} EmojiRecord
 * @property {string} codepoint  uppercase hex code points joined by '-', as emoji-datasource's
 *   `unified` (FE0F kept where the fully-qualified sequence has it)
 * @property {string} name  CLDR short name, e.g. 'dog face'
 * @property {string} category  emoji-datasource category (the CLDR group), e.g. 'Animals & Nature'
 * @property {string} subcategory  CLDR subgroup, e.g. 'animal-mammal'
 * @property {number} order  emoji-datasource sort_order (CLDR order)
 */

/**
 * CLDR groups whose emoji depict things, beings, places or expressions. Left out: 'Symbols'
 * (letters, keycaps, arrows, zodiac signs, geometric shapes: glyphs rather than depictions) and
 * 'Component' (skin-tone swatches and hair components, not emoji on their own).
 */
export const INCLUDED_CATEGORIES = Object.freeze([
  'Smileys & Emotion',
  'People & Body',
  'Animals & Nature',
  'Food & Drink',
  'Travel & Places',
  'Activities',
  'Objects',
  'Flags',
]);

/**
 * Country and subdivision flags are national symbols rather than concepts, Fluent has none of
 * them (so at most 3 images each), and Noto's flag images have their own provenance. The
 * remaining 'flag' subgroup (chequered flag, white flag, pirate flag, ...) stays.
 */
export const EXCLUDED_SUBCATEGORIES = Object.freeze(['country-flag', 'subdivision-flag']);

/**
 * Hand-checked merges: class -> the CLDR short names of its members. Each member was looked at
 * in every set; all depict the class's concept. A name here wins over the rules below.
 */
export const MERGES = Object.freeze({
  dog: ['dog face', 'dog', 'poodle', 'guide dog', 'service dog'],
  cat: [
    'cat face',
    'cat',
    'black cat',
    'grinning cat',
    'grinning cat with smiling eyes',
    'cat with tears of joy',
    'smiling cat with heart-eyes',
    'cat with wry smile',
    'kissing cat',
    'weary cat',
    'crying cat',
    'pouting cat',
  ],
  monkey: [
    'monkey face',
    'monkey',
    'see-no-evil monkey',
    'hear-no-evil monkey',
    'speak-no-evil monkey',
  ],
  chick: ['baby chick', 'hatching chick', 'front-facing baby chick'],
  car: ['automobile', 'oncoming automobile'],
  'people holding hands': [
    'people holding hands',
    'woman and man holding hands',
    'men holding hands',
    'women holding hands',
  ],
  merperson: ['merperson', 'mermaid', 'merman'],
  'older person': ['older person', 'old man', 'old woman'],
  'pregnant person': ['pregnant person', 'pregnant woman', 'pregnant man'],
  'deaf person': ['deaf person', 'deaf woman', 'deaf man'],
});

const CLOCK_HOURS = 'one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve';
/** The 24 clock faces (CLDR 'time' subgroup) differ only in where the hands point. */
const CLOCK_FACE = new RegExp(`^(?:${CLOCK_HOURS})(?: o[’']clock|-thirty)$`);

/**
 * Folds a name to its class label: lowercase ASCII words joined by '-' ('piñata' -> 'pinata',
 * 'woman’s hat' -> 'womans-hat', 'T-shirt' -> 't-shirt'). Labels are folder names, so they must
 * be portable file names; they are also what `--class` takes on the command line.
 * @param {string} name
 * @returns {string}
 */
export function slugify(name) {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[’'‘"“”.]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (slug === '') throw new Error(`emoji name ${JSON.stringify(name)} has no letters or digits`);
  return slug;
}

/** @type {Map<string, string>} member CLDR name -> class concept */
const MERGE_OF = new Map(
  Object.entries(MERGES).flatMap(([concept, members]) => members.map((m) => [m, concept])),
);

/**
 * The generic rules, applied in this order to a name that is not in MERGES. Each only ever
 * merges into a name that exists (`names`), except the gender rule, whose target 'person X' is
 * the gender-neutral concept even where Unicode has no neutral emoji (e.g. 'man dancing' and
 * 'woman dancing' -> 'person dancing').
 * @param {EmojiRecord} record
 * @param {ReadonlySet<string>} names  every CLDR name in the universe
 * @returns {string} the concept
 */
function applyRules(record, names) {
  let name = record.name;
  const people = record.category === 'People & Body';
  if (people) {
    // CLDR qualifiers name a variant of the thing before the colon: 'family: man, woman, boy',
    // 'kiss: woman, man', 'man: red hair', 'person: beard', and the mirror images of Emoji 15.1
    // ('person running: facing right').
    name = name.replace(/: .*$/, '');
    // Gendered variants of one concept: 'man farmer' -> 'farmer', 'woman running' ->
    // 'person running', 'men wrestling' -> 'people wrestling'.
    const single = /^(?:man|woman|person) (.+)$/.exec(name);
    if (single) name = names.has(single[1]) ? single[1] : `person ${single[1]}`;
    const plural = /^(?:men|women|people) (.+)$/.exec(name);
    if (plural) name = `people ${plural[1]}`;
  }
  // An animal's face and the whole animal: 'tiger face' -> 'tiger'.
  if (record.subcategory.startsWith('animal-')) {
    const face = /^(.+) face$/.exec(name);
    if (face && names.has(face[1])) name = face[1];
  }
  // The same vehicle seen from the front: 'oncoming bus' -> 'bus'.
  const oncoming = /^oncoming (.+)$/.exec(name);
  if (oncoming && names.has(oncoming[1])) name = oncoming[1];
  if (record.subcategory === 'time' && CLOCK_FACE.test(name)) name = 'clock face';
  return name;
}

/**
 * Whether an emoji belongs to the dataset's universe at all.
 * @param {EmojiRecord} record
 */
export function isIncluded(record) {
  return (
    INCLUDED_CATEGORIES.includes(record.category) &&
    !EXCLUDED_SUBCATEGORIES.includes(record.subcategory)
  );
}

/**
 * Assigns every included emoji to a class label.
 * @param {readonly EmojiRecord[]} records  all emoji (excluded ones are skipped)
 * @returns {Map<string, string>} codepoint -> class label
 * @throws if a MERGES member names no emoji (a typo, or CLDR renamed it)
 */
export function assignClasses(records) {
  const included = records.filter(isIncluded);
  const names = new Set(included.map((r) => r.name));
  for (const member of MERGE_OF.keys()) {
    if (!names.has(member)) throw new Error(`MERGES member ${JSON.stringify(member)} is no emoji`);
  }
  /** @type {Map<string, string>} */
  const labels = new Map();
  for (const record of included) {
    const merged = MERGE_OF.get(record.name);
    const ruled = merged ?? applyRules(record, names);
    // A rule may land on a hand-merged name ('oncoming automobile' -> 'automobile' -> car).
    const concept = merged ?? MERGE_OF.get(ruled) ?? ruled;
    labels.set(record.codepoint, slugify(concept));
  }
  return labels;
}

/**
 * Counts images per class and set, and keeps the classes with at least `minImages` images.
 * @param {ReadonlyMap<string, string>} labels  codepoint -> class label
 * @param {readonly {codepoint: string, set: string}[]} images  one entry per available image
 * @param {readonly string[]} sets  set names, in output order
 * @param {number} minImages
 * @returns {Map<string, Record<string, number>>} label -> set -> count, labels sorted, every
 *   set present (0 where none)
 */
export function selectClasses(labels, images, sets, minImages) {
  /** @type {Map<string, Record<string, number>>} */
  const counts = new Map();
  for (const { codepoint, set } of images) {
    const label = labels.get(codepoint);
    if (label === undefined) continue;
    let perSet = counts.get(label);
    if (perSet === undefined) {
      perSet = Object.fromEntries(sets.map((s) => [s, 0]));
      counts.set(label, perSet);
    }
    if (!(set in perSet)) throw new Error(`image of unknown set ${JSON.stringify(set)}`);
    perSet[set] += 1;
  }
  const total = (perSet) => Object.values(perSet).reduce((a, b) => a + b, 0);
  return new Map(
    [...counts]
      .filter(([, perSet]) => total(perSet) >= minImages)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}
