/**
 * Python prelude for hostile-code tests: reaches `sys` and the `posix` module through the object
 * graph (a stdlib class's method globals), bypassing the restricted builtins and imports.
 * Defines `_sys` and `_posix`.
 */
export const ESCAPE = `
def _globals():
    for c in object.__subclasses__():
        if c.__name__ == "_wrap_close":
            return c.__init__.__globals__
_sys = _globals()["sys"]
_posix = _sys.modules["posix"]
`;
