/** The error `f` throws, or undefined: for asserting on an error's type and fields. */
export function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  return undefined;
}
