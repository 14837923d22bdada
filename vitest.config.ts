import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // integration tests spawn the CLI and real servers; two cores: keep parallelism modest
    maxWorkers: 2,
    // the admin server checks each reply against its schema in /api/openapi.json (500 naming the field if not)
    env: { FERRY_CHECK_REPLIES: '1' },
    reporters: ['default'],
  },
});
