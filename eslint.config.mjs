// ESLint flat config: typescript-eslint recommended + eslint-config-prettier (STYLE §12),
// typed rules that catch promise bugs in lib/, and a pure-core import ban (STYLE §1).
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Pure core: no framework, no rxjs (STYLE §1). Keep in step with the layout there. */
const PURE_CORE = [
  'lib/common/**/*.ts',
  'lib/**/*.policy.ts',
  'lib/**/*.options.ts',
  'lib/retry/backoff/**/*.ts',
  'lib/circuit-breaker/windows/**/*.ts',
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'dist-sample/**',
      'node_modules/**',
      'coverage/**',
      '.tmp/**',
      'test/package/.work/**',
      'test/package/apps/**',
      '**/*.d.ts',
    ],
  },

  eslint.configs.recommended,
  ...tseslint.configs.recommended,

  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      '@typescript-eslint/no-explicit-any': 'warn',
      // Method wrappers keep the caller's `this` as `self` for the closures they create.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self'] }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-return-await': 'off',
      'prefer-const': 'error',
    },
  },

  // Type-aware rules for the published code: unhandled and misused promises are the bugs
  // a resilience library can least afford.
  {
    files: ['lib/**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { arguments: false } },
      ],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/require-await': 'off',
    },
  },

  {
    files: PURE_CORE,
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@nestjs/*', 'rxjs', 'rxjs/*'],
              message:
                'The pure core (lib/common, *.policy.ts, *.options.ts, backoff/, windows/) must not depend on Nest or rxjs: see STYLE.md §1.',
            },
          ],
        },
      ],
    },
  },

  // Tests may be loose with types.
  {
    files: ['**/*.spec.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },

  // Plain JavaScript: build scripts, the package test and its fixtures, configs.
  {
    files: ['**/*.{js,mjs,cjs}'],
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    files: ['**/*.cjs', 'jest.config.js'],
    languageOptions: { sourceType: 'commonjs' },
  },

  prettier,
);
