/** Exit codes of the jpeglm command. Documented in packages/cli/README.md; keep them in step. */
export const ExitCode = {
  ok: 0,
  /** `validate`: at least one stream is repairable (none rejected). */
  repairable: 1,
  /** Bad input: unreadable, corrupt or rejected file, or (`validate`) a rejected stream. */
  badInput: 2,
  /** Bad usage: unknown option, invalid option value, stdout is a terminal for binary output. */
  usage: 3,
  /** A bug in jpeglm: the message asks for a report. */
  internal: 4,
  /** Interrupted by SIGINT/SIGTERM; long jobs leave a resumable state. */
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
