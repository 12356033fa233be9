import type { Command } from 'commander';
import { register as avc } from './avc.js';
import { register as classes } from './classes.js';
import { register as complete } from './complete.js';
import { register as detokenize } from './detokenize.js';
import { register as encode } from './encode.js';
import { register as eval_ } from './eval.js';
import { register as generate } from './generate.js';
import { register as prep } from './prep.js';
import { register as repair } from './repair.js';
import { register as score } from './score.js';
import { register as tokenize } from './tokenize.js';
import { register as train } from './train.js';
import { register as validate } from './validate.js';

/**
 * Every subcommand lives in its own module under commands/ and exports `register`, which adds it
 * to the program. Add a command by adding one import and one entry here.
 */
export type RegisterCommand = (program: Command) => void;

export const commands: readonly RegisterCommand[] = [
  encode,
  tokenize,
  detokenize,
  validate,
  repair,
  generate,
  complete,
  score,
  classes,
  avc,
  prep,
  eval_,
  train,
];
