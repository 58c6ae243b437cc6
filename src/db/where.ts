/** AND-joined SQL conditions with their parameters, for the list queries' optional filters. */
export class Where {
  private readonly parts: string[] = [];
  readonly params: (string | number)[] = [];

  /** Adds a condition (with `?` placeholders) when its first parameter is present. */
  when(value: string | number | null | undefined, condition: string, ...params: (string | number)[]): this {
    if (value !== undefined && value !== null) {
      this.parts.push(condition);
      this.params.push(...(params.length > 0 ? params : [value]));
    }
    return this;
  }

  always(condition: string): this {
    this.parts.push(condition);
    return this;
  }

  toString(): string {
    return this.parts.length > 0 ? `WHERE ${this.parts.join(" AND ")}` : "";
  }
}
