/** Errors that end a command with a one-line message and a specific exit code. */

/** Bad usage: an unknown name, a malformed number, an option out of range. Exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/** A run that cannot go on: unreadable input, a model that does not fit. Exit code 1. */
export class RunError extends Error {
  readonly exitCode = 1;
}
