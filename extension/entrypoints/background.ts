import { defineBackground } from 'wxt/utils/define-background';

export default defineBackground(() => {
  // The sharing state machine arrives with the extension issue; the build must work today.
});
