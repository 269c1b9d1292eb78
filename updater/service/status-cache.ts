// GET /api/v1/status must stay cheap while an update runs (bench: p99 at 500 req/s). Box.status()
// asks the cluster and the disk, so its answer is kept for ~1 s; a state event drops it at once
// and a progress event patches it in place, so clients never see a stale state.
import type { Box, BoxStatus, UpdateEvent } from '../engine/api.ts';

export class StatusCache {
  private value: BoxStatus | null = null;
  /** the serialized value, made once per change: the status route answers with it as is */
  private text: string | null = null;
  private at = 0;
  private pending: Promise<BoxStatus> | null = null;
  private generation = 0;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly box: Box,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {
    this.unsubscribe = box.subscribe((e) => this.onEvent(e));
  }

  private onEvent(e: UpdateEvent): void {
    if (e.type === 'state') {
      this.invalidate();
    } else if (e.type === 'progress' && this.value) {
      this.value = { ...this.value, progress: { step: e.step, done: e.done, total: e.total } };
      this.text = null;
    }
  }

  invalidate(): void {
    this.value = null;
    this.text = null;
    this.generation++;
  }

  async get(): Promise<BoxStatus> {
    if (this.value && this.now() - this.at < this.ttlMs) return this.value;
    // one Box.status() in flight at a time, however many requests wait for it
    if (!this.pending) {
      const gen = this.generation;
      this.pending = this.box
        .status()
        .then((s) => {
          if (gen === this.generation) {
            this.value = s;
            this.text = null;
            this.at = this.now();
          }
          return s;
        })
        .finally(() => {
          this.pending = null;
        });
    }
    return this.pending;
  }

  /** The status as JSON text, serialized once per change. */
  async json(): Promise<string> {
    const value = await this.get();
    if (value !== this.value) return JSON.stringify(value);
    this.text ??= JSON.stringify(value);
    return this.text;
  }

  close(): void {
    this.unsubscribe();
  }
}
