import type { Command } from 'commander';
import { NULL_CLASS_ID } from '@jpeglm/codec-tokenizer';
import { writeStdout } from '../io.js';
import { loadTokenizer, MODEL_OPTION_HELP, resolveModelDir } from '../model-loader.js';

interface ClassesCliOptions {
  model?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('classes')
    .description(
      'List the class labels a model was trained with (the values `generate --class` accepts), one per line.',
    )
    .option('--model <dir>', MODEL_OPTION_HELP)
    .option('--json', 'print {model, profile, nullClassId, classes: [{label, id}]} on stdout')
    .action(async (opts: ClassesCliOptions) => {
      const dir = resolveModelDir(opts.model);
      const tokenizer = await loadTokenizer(dir);
      if (opts.json) {
        const out = {
          model: dir,
          profile: tokenizer.profile.name,
          nullClassId: NULL_CLASS_ID,
          classes: tokenizer.classes.map((label) => ({ label, id: tokenizer.classId(label) })),
        };
        await writeStdout(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      if (tokenizer.classes.length === 0) {
        process.stderr.write(`${dir}: an unconditional model (no class labels)\n`);
        return;
      }
      await writeStdout(tokenizer.classes.map((c) => `${c}\n`).join(''));
    });
}
