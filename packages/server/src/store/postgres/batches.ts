/** The outcome of one item of a batch: its value, or the error that item alone fails with. */
export type Outcome<O> = { ok: true; value: O } | { ok: false; error: unknown }

interface Waiting<I, O> {
  input: I
  resolve: (value: O) => void
  reject: (error: unknown) => void
}

/**
 * Joins the calls of one kind of store write that arrive while an earlier one is still on its way to
 * PostgreSQL into one statement (group commit, issue 13): the first call of an idle batcher goes out at
 * once, and whatever arrives while it runs goes out together when it is answered, up to `maxBatch` items.
 * Under light load nothing waits; under heavy load each round trip and each WAL flush carries many requests.
 *
 * `run` gets the inputs in arrival order and answers each one: a batch can fail as a whole (its promise
 * rejects: every item gets that error) or per item (an Outcome each). An item resolves only once the
 * statement holding it committed, so nothing is acknowledged before it is durable.
 */
export class Batcher<I, O> {
  readonly #run: (inputs: I[]) => Promise<Outcome<O>[]>
  readonly #maxInFlight: number
  readonly #maxBatch: number
  #queue: Waiting<I, O>[] = []
  #inFlight = 0

  constructor(
    run: (inputs: I[]) => Promise<Outcome<O>[]>,
    options: { maxInFlight?: number; maxBatch?: number } = {},
  ) {
    this.#run = run
    this.#maxInFlight = options.maxInFlight ?? 1
    this.#maxBatch = options.maxBatch ?? 500
  }

  submit(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ input, resolve, reject })
      this.#pump()
    })
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch)
      this.#inFlight += 1
      let outcomes: Promise<Outcome<O>[]>
      try {
        outcomes = this.#run(batch.map((w) => w.input))
      } catch (error) {
        outcomes = Promise.reject(error)
      }
      outcomes
        .then(
          (results) =>
            batch.forEach((w, index) => {
              const result = results[index]
              if (!result) w.reject(new Error('batch returned no outcome for an item'))
              else if (result.ok) w.resolve(result.value)
              else w.reject(result.error)
            }),
          (error: unknown) => batch.forEach((w) => w.reject(error)),
        )
        .finally(() => {
          this.#inFlight -= 1
          this.#pump()
        })
    }
  }
}
