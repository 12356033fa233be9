// The augmented renderings' parameters: deterministic, in range, and never a mirror where the
// class has a direction or text.
//   node --test datasets/emoji/test/
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_SHIFT, MIN_SCALE, jitterFor, mirrorable } from '../lib/jitter.mjs';

test('a variant is a pure function of the source and its number', () => {
  const a = jitterFor('emoji-datasource-google@16.0.0/img/google/64/1f436.png', 3, true);
  assert.deepEqual(jitterFor('emoji-datasource-google@16.0.0/img/google/64/1f436.png', 3, true), a);
  assert.notDeepEqual(
    jitterFor('emoji-datasource-google@16.0.0/img/google/64/1f436.png', 4, true),
    a,
  );
  assert.notDeepEqual(jitterFor('openmoji@17.0.0/color/svg/1F436.svg', 3, true), a);
});

test('scales and shifts stay in range and cover it', () => {
  const scales = [];
  const shifts = [];
  for (let i = 0; i < 400; i++) {
    const j = jitterFor(`source-${i}`, 1 + (i % 7), true);
    assert.ok(j.scale >= MIN_SCALE && j.scale <= 1, `scale ${j.scale}`);
    for (const d of [j.dx, j.dy]) {
      assert.ok(Number.isInteger(d) && Math.abs(d) <= MAX_SHIFT, `shift ${d}`);
      shifts.push(d);
    }
    scales.push(j.scale);
  }
  assert.ok(Math.min(...scales) < MIN_SCALE + 0.02 && Math.max(...scales) > 0.98);
  assert.equal(Math.min(...shifts), -MAX_SHIFT);
  assert.equal(Math.max(...shifts), MAX_SHIFT);
});

test('odd variants of mirrorable classes are mirrored, nothing else is', () => {
  assert.equal(jitterFor('s', 1, true).mirror, true);
  assert.equal(jitterFor('s', 2, true).mirror, false);
  assert.equal(jitterFor('s', 1, false).mirror, false);
});

test('classes with a direction, text or a clock face are not mirrorable', () => {
  for (const label of ['dog', 'cat', 'pizza', 'car', 'rocket', 'face-with-tears-of-joy']) {
    assert.equal(mirrorable(label), true, label);
  }
  for (const label of [
    'right-arrow',
    'backhand-index-pointing-left',
    'clock-face',
    'keycap-digit',
    'newspaper',
    'dollar-banknote',
    'japanese-castle',
    'chequered-flag',
  ]) {
    assert.equal(mirrorable(label), false, label);
  }
});
