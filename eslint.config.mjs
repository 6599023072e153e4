// The lint configuration lives with its toolchain in tools/lint (see the comment there).
export { default } from './tools/lint/eslint.config.mjs';
