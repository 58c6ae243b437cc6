/** Creates one object takes at a time; past this a request is shed rather than queued. */
export const MAX_REQUESTS_IN_FLIGHT = 64;
/** Credentials (jobs asked for) one object holds in flight: five full batches. */
export const MAX_ITEMS_IN_FLIGHT = 5_000;

/**
 * The object's in-flight work, in memory. An object runs one thing at a time but interleaves
 * requests at every await (D1, signing, the outbox), so without a bound a burst queues without
 * limit and callers time out. Past the bound a request is refused at once, before it changes
 * anything, and the caller is told when to come back (api.md "Overload").
 */
export class Load {
  private requests = 0;
  private items = 0;

  constructor(
    private readonly maxRequests = MAX_REQUESTS_IN_FLIGHT,
    private readonly maxItems = MAX_ITEMS_IN_FLIGHT,
  ) {}

  /** Whether a request of `items` would be taken now. A lone request is always taken, whatever its size. */
  fits(items: number): boolean {
    if (this.requests === 0) return true;
    return this.requests < this.maxRequests && this.items + items <= this.maxItems;
  }

  /** Takes the request if it fits; every `true` must be paired with one `release(items)`. */
  admit(items: number): boolean {
    if (!this.fits(items)) return false;
    this.requests += 1;
    this.items += items;
    return true;
  }

  release(items: number): void {
    this.requests -= 1;
    this.items -= items;
  }

  get inFlight(): { requests: number; items: number } {
    return { requests: this.requests, items: this.items };
  }
}
