// Unit tests (lib, beside the code), integration tests (test/integration) and model-based
// property tests (test/property; FC_NUM_RUNS sets the number of sequences).
module.exports = {
  moduleFileExtensions: ['js', 'json', 'ts'],
  rootDir: '.',
  testMatch: [
    '<rootDir>/lib/**/*.spec.ts',
    '<rootDir>/test/integration/**/*.spec.ts',
    '<rootDir>/test/property/**/*.spec.ts',
  ],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testEnvironment: 'node',
  setupFiles: ['reflect-metadata'],
  collectCoverageFrom: ['lib/**/*.ts', '!lib/**/*.spec.ts', '!lib/**/index.ts'],
};
