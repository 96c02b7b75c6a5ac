// Unit tests (lib, beside the code) and integration tests (test/integration).
module.exports = {
  moduleFileExtensions: ['js', 'json', 'ts'],
  rootDir: '.',
  testMatch: ['<rootDir>/lib/**/*.spec.ts', '<rootDir>/test/integration/**/*.spec.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testEnvironment: 'node',
  setupFiles: ['reflect-metadata'],
  collectCoverageFrom: ['lib/**/*.ts', '!lib/**/*.spec.ts', '!lib/**/index.ts'],
};
