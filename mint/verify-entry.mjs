// Worker threads start without the parent's TypeScript loader, so register it
// here before loading the thread body (as units/node/thread-entry.mjs does).
import { register } from 'tsx/esm/api';

register();
await import('./verify-body.ts');
