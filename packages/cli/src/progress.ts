/**
 * A progress line on stderr for long jobs: done/total, rate, ETA. Redraws in place on a
 * terminal; on a pipe or file it prints at most one line every few seconds so logs stay short.
 */
export interface ProgressOptions {
  readonly total: number;
  readonly unit: string; // 'files', 'tokens', ...
  readonly label?: string;
  readonly stream?: NodeJS.WriteStream;
  /** Minimum milliseconds between two redraws. */
  readonly intervalMs?: number;
}

export class Progress {
  private readonly start = Date.now();
  private last = 0;
  private done = 0;
  private extra = '';
  private readonly stream: NodeJS.WriteStream;
  private readonly interval: number;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.interval = opts.intervalMs ?? (this.stream.isTTY ? 100 : 5000);
  }

  /** Record `n` more units done, with optional extra text (e.g. "3 rejects"). */
  tick(n = 1, extra?: string): void {
    this.done += n;
    if (extra !== undefined) this.extra = extra;
    const now = Date.now();
    if (now - this.last >= this.interval) {
      this.last = now;
      this.draw(false);
    }
  }

  finish(extra?: string): void {
    if (extra !== undefined) this.extra = extra;
    this.draw(true);
  }

  /** The current line, without terminal control characters. */
  line(): string {
    const secs = Math.max((Date.now() - this.start) / 1000, 1e-9);
    const rate = this.done / secs;
    const { total, unit, label } = this.opts;
    const pct = total > 0 ? ` ${((100 * this.done) / total).toFixed(1)}%` : '';
    const eta =
      rate > 0 && total > this.done ? ` ETA ${formatDuration((total - this.done) / rate)}` : '';
    const head = label ? `${label}: ` : '';
    const extra = this.extra ? ` ${this.extra}` : '';
    return `${head}${this.done}/${total} ${unit}${pct} ${formatRate(rate)} ${unit}/s${eta}${extra}`;
  }

  private draw(final: boolean): void {
    const text = this.line();
    if (this.stream.isTTY) this.stream.write(`\r\x1b[K${text}${final ? '\n' : ''}`);
    else this.stream.write(`${text}\n`);
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function formatRate(r: number): string {
  return r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2);
}
