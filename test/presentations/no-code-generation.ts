/**
 * The vitest pool lets `new Function` through (its module runner needs it), while production workerd
 * refuses code generation from strings at request time. Running a call inside this makes any use of
 * `Function`/`eval` throw here too, so a dependency that compiles code fails the test instead of prod.
 */
export function withoutCodeGeneration<T>(run: () => T): T {
  const g = globalThis as unknown as { Function: unknown; eval: unknown };
  const saved = { Function: g.Function, eval: g.eval };
  function refuse(): never {
    throw new EvalError("Code generation from strings disallowed for this context");
  }
  g.Function = refuse;
  g.eval = refuse;
  try {
    return run();
  } finally {
    g.Function = saved.Function;
    g.eval = saved.eval;
  }
}
