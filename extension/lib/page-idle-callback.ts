// Imported first by the background, for its side effect in the Firefox build
// only. The background there is one IIFE bundle, so WebTorrent's code runs as
// the page loads, not when the engine starts, and it reads
// window.requestIdleCallback then (lib/idle-callback.ts): the stand-in must be
// in place before any other module of the bundle runs. In the Chromium build
// this is `if (false)` and nothing of it remains.

import { replaceRequestIdleCallback } from './idle-callback.ts';

if (import.meta.env.FIREFOX) replaceRequestIdleCallback();
