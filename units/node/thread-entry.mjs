// Worker threads start without the parent's TypeScript loader, so register it
// here before loading the thread body. The browser bundles its Web Worker and
// needs no such step.
import { register } from 'tsx/esm/api';

register();
await import('./thread-body.ts');
