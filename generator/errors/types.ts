/** One deliberate error of the package: its own SQLSTATE in class BG, a message and a remedy. */
export interface ErrorDef {
  /** SQLSTATE, five characters, class `BG`: BG000–BG099 substrate, BG1xx admission, BG2xx handoff, BG3xx drift/operator (BG320–BG369 security). */
  readonly code: `BG${string}`;
  /** Stable TypeScript constant name. */
  readonly name: string;
  /** What went wrong (the default message; call sites may give a more specific one). */
  readonly message: string;
  /** What to do about it — every raise carries it as HINT. */
  readonly hint: string;
}
