#!/usr/bin/env node
// The `cycles` command runs the TypeScript sources directly, so there is no
// build step between `npm ci` and using it.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
