// eslint.config.mjs — ESLint flat config for the TypeScript (and the few .mjs/.js scripts).
// Lives in tools/lint so that typescript-eslint resolves the TypeScript 6 compiler API
// installed there; the project itself builds with TypeScript 7. Formatting is Prettier's job:
// no stylistic rules here.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/', 'dist/', 'build/', 'build-*/', 'bench/results/', '.jetrecv/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: globals.node,
    },
    rules: {
      // `_name` marks a parameter or binding kept on purpose (callbacks, destructuring).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // `import('…').T` in a type position stays allowed (a type from a module not otherwise imported).
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      // `x != null` is the one idiom for "neither null nor undefined".
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // Browser code (the status page's scripts, where present).
    files: ['ui/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
  {
    // Tests read JSON answers and poke at internals; `any` is accepted there.
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
