/**
 * The answer of a list call: await it for one page, or iterate over it
 * with `for await` for every item of every page (fetched one page at a
 * time, as the loop goes on). Like a Promise, it fetches its first page
 * once, however often it is awaited.
 */
export class PagePromise<Page, Item> implements PromiseLike<Page>, AsyncIterable<Item> {
  private first?: Promise<Page>;

  constructor(
    private readonly fetchFirst: () => Promise<Page>,
    /** The items of a page and the function that fetches the next one, if any. */
    private readonly step: (page: Page) => { items: Item[]; next?: () => Promise<Page> },
  ) {}

  private page(): Promise<Page> {
    this.first ??= this.fetchFirst();
    return this.first;
  }

  then<A = Page, B = never>(
    onfulfilled?: ((value: Page) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.page().then(onfulfilled, onrejected);
  }

  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<Page | B> {
    return this.page().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<Page> {
    return this.page().finally(onfinally);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Item> {
    let page = await this.page();
    for (;;) {
      const { items, next } = this.step(page);
      for (const item of items) yield item;
      if (!next || items.length === 0) return;
      page = await next();
    }
  }

  /** Every item of every page, collected (mind the size of what you ask for). */
  async toArray(max = Infinity): Promise<Item[]> {
    const out: Item[] = [];
    for await (const item of this) {
      if (out.length >= max) break;
      out.push(item);
    }
    return out;
  }

  get [Symbol.toStringTag](): string {
    return 'PagePromise';
  }
}
