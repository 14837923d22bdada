// The one error an engine API operation throws: a status (the HTTP status the admin API answers with, so
// every client sees the same meaning: 400 bad request, 404 unknown, 409 not now, 501 not available) and,
// for bad input, one problem per field.
import type { Problem } from '../admin/types.ts';

export class FerryApiError extends Error {
  readonly status: number;
  readonly problems?: Problem[];
  constructor(status: number, message: string, problems?: Problem[]) {
    super(message);
    this.name = 'FerryApiError';
    this.status = status;
    this.problems = problems;
  }
}
