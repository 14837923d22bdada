// Whether replies are checked against their schemas (reply-check.ts). Apart from the checker, so a server that
// does not check never loads the reply schemas: building them costs about a megabyte of heap for the life of
// the process.
export const CHECK_REPLIES_ENV = 'FERRY_CHECK_REPLIES';

export const checkRepliesEnabled = (env: NodeJS.ProcessEnv = process.env) => env[CHECK_REPLIES_ENV] === '1';
